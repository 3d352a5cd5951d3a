"""Shopify: order webhooks (verify + parse). Posting tracking back (client) is not built yet."""
