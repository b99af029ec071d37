//! Sandbox API server scenarios through a real `kube::Client`.
