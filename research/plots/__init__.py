"""Plots (matplotlib). Kept apart from the statistics: functions here take result objects and draw them."""
