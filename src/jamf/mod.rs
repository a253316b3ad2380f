//! Jamf Pro API client and the Jamf targets.
