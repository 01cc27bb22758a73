"""Products: the year's 惠民保 offer in a city, its tiers, benefits, window and terms."""
