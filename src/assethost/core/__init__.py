"""The domain: rules for accounts, services, assets, builds and deployments. No HTTP, no SQL."""
