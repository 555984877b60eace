//! FC-NVMe and NVMe wire formats (nvme-fc.md §4–§5).
