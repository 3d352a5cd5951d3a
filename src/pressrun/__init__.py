"""pressrun: order automation and fulfillment for on-demand CD/DVD/USB media."""
