"""Software-defined assets, in the order data flows through them."""
