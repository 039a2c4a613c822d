{{ figures_fact('households_helped') }}
