"""``stepsieve convert`` and ``stepsieve inspect`` (the formats issue fills these in)."""
