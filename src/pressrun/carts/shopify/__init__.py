"""Shopify: order webhooks (verify + parse) and posting tracking back (client, the Admin API)."""
