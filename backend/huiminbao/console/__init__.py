"""The operator console: next year's product from this year's, employer group enrollment, the
subsidy roster, and counter-assisted enrollment for walk-in residents."""
