{{ figures_fact('aid_value') }}
