//! Stand-ins for Entra/Graph and Jamf Pro.
