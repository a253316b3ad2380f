//! Alerts (SNS, in-memory) and CloudWatch EMF metric lines.
