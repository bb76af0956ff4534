"""The data-resource catalogue (Art. 12-14), data grants and the reference data seeded from the policy."""
