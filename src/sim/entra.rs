//! Entra ID / Microsoft Graph stand-in.
