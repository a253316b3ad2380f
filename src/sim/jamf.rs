//! Jamf Pro stand-in.
