"""Vector and lexical stores, and the on-disk index generations that hold them."""
