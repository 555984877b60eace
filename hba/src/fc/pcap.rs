//! Classic libpcap file framing for captures of FC frames.
//!
//! Link type [`LINKTYPE_FC_2`] (224, "FC-2 frames beginning with a Frame_Header",
//! tcpdump.org link-layer header types) is chosen over 225
//! (LINKTYPE_FC_2_WITH_FRAME_DELIMS, which adds SOF/EOF encodings around the
//! frame) because the emulated fabric has no ordered sets: a record is exactly
//! [`super::frame::Frame::to_bytes`]. Wireshark/tshark dissect 224 with their
//! "fc" dissector (ELS, FC-CT, FC-NVMe).

/// pcap link type of FC-2 frames that start with the 24-byte frame header.
pub const LINKTYPE_FC_2: u32 = 224;
/// pcap link type of FC-2 frames with SOF/EOF encodings (not used here).
pub const LINKTYPE_FC_2_WITH_FRAME_DELIMS: u32 = 225;

/// Magic of a microsecond-resolution pcap file, written little-endian.
pub const PCAP_MAGIC_USEC: u32 = 0xA1B2_C3D4;
/// Length of the pcap file header.
pub const PCAP_FILE_HEADER_LEN: usize = 24;
/// Length of a pcap record header.
pub const PCAP_RECORD_HEADER_LEN: usize = 16;

/// The 24-byte pcap file header (version 2.4, little-endian) for `linktype`.
pub fn file_header(snaplen: u32, linktype: u32) -> [u8; PCAP_FILE_HEADER_LEN] {
    let mut b = [0u8; PCAP_FILE_HEADER_LEN];
    b[0..4].copy_from_slice(&PCAP_MAGIC_USEC.to_le_bytes());
    b[4..6].copy_from_slice(&2u16.to_le_bytes());
    b[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0.
    b[16..20].copy_from_slice(&snaplen.to_le_bytes());
    b[20..24].copy_from_slice(&linktype.to_le_bytes());
    b
}

/// The 16-byte record header of a `len`-byte frame captured whole at
/// `ts_sec.ts_usec`.
pub fn record_header(ts_sec: u32, ts_usec: u32, len: u32) -> [u8; PCAP_RECORD_HEADER_LEN] {
    let mut b = [0u8; PCAP_RECORD_HEADER_LEN];
    b[0..4].copy_from_slice(&ts_sec.to_le_bytes());
    b[4..8].copy_from_slice(&ts_usec.to_le_bytes());
    b[8..12].copy_from_slice(&len.to_le_bytes());
    b[12..16].copy_from_slice(&len.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_headers_golden() {
        let f = file_header(65535, LINKTYPE_FC_2);
        assert_eq!(
            f,
            [
                0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 224,
                0, 0, 0
            ]
        );
        let r = record_header(1, 2, 60);
        assert_eq!(r, [1, 0, 0, 0, 2, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0]);
    }
}
