"""Evidence: content ids (CIDv1) and content-addressed stores."""
