"""The tracking code: sites, visitors, their sessions and page views."""
