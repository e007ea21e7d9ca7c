//! Maintenance windows: window specs parsed into values, and open/next/remaining queries (no IO).
