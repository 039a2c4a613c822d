{{ figures_fact('blood_units') }}
