//! A capture of the frames crossing the fabric in the classic libpcap format
//! (tcpdump.org "pcap savefile"): a 24-byte global header, then per frame a 16-byte
//! record header and the frame bytes. Little-endian, nanosecond timestamps
//! (magic 0xA1B23C4D) taken from the fabric clock, so a capture of a test run on
//! a manual clock is byte-for-byte reproducible.
//!
//! Link type [`LINKTYPE_FC_2`]: each record is an FC-2 frame starting with its
//! 24-byte frame header, without SOF/EOF delimiters or CRC
//! ([`ufc_hba::fc::frame::Frame::to_bytes`]); Wireshark dissects it as `fc` and
//! hands ELS and CT (name server) payloads to their dissectors (Wireshark 4.0
//! shows FC-NVMe LSs as "Link Data").
//!
//! `ufc_hba::fc::pcap` has the same headers with microsecond timestamps; this
//! writer adds nanosecond timestamps (manual clocks step in ns) and the snaplen
//! cut.

use std::io::{self, Write};
use std::time::Duration;

/// tcpdump.org LINKTYPE_FC_2 (224): FC-2 frames beginning with the frame header.
pub use ufc_hba::fc::pcap::LINKTYPE_FC_2;
/// Magic of a little-endian file with nanosecond timestamps.
pub const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Default snapshot length: the largest FC frame (24-byte header + 2112-byte
/// payload) fits whole.
pub const DEFAULT_SNAPLEN: u32 = 2136;

/// Writes a pcap stream to `W`.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
    frames: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (version 2.4, link type FC-2) and returns the
    /// writer. Frames longer than `snaplen` are cut to it (the record keeps the
    /// original length). A `snaplen` of 0 means [`DEFAULT_SNAPLEN`].
    pub fn new(mut out: W, snaplen: u32) -> io::Result<Self> {
        let snaplen = if snaplen == 0 {
            DEFAULT_SNAPLEN
        } else {
            snaplen
        };
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay 0: timestamps are UTC-less
        // fabric-clock time.
        hdr[16..20].copy_from_slice(&snaplen.to_le_bytes());
        hdr[20..24].copy_from_slice(&LINKTYPE_FC_2.to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter {
            out,
            snaplen,
            frames: 0,
        })
    }

    /// Appends one frame (header and payload) seen at `ts` on the fabric clock.
    pub fn write_frame(&mut self, ts: Duration, frame: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let incl = orig.min(self.snaplen);
        let secs = u32::try_from(ts.as_secs()).unwrap_or(u32::MAX);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&ts.subsec_nanos().to_le_bytes());
        rec[8..12].copy_from_slice(&incl.to_le_bytes());
        rec[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&rec)?;
        // incl ≤ frame.len() by construction.
        self.out.write_all(&frame[..incl as usize])?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[test]
    fn global_and_record_headers() {
        let mut w = PcapWriter::new(Vec::new(), 0).unwrap();
        let frame: Vec<u8> = (0..40u8).collect();
        w.write_frame(Duration::new(3, 250), &frame).unwrap();
        assert_eq!(w.frames(), 1);
        let b = w.into_inner();
        assert_eq!(le32(&b, 0), PCAP_MAGIC_NS);
        assert_eq!(&b[4..8], &[2, 0, 4, 0]);
        assert_eq!(le32(&b, 16), DEFAULT_SNAPLEN);
        assert_eq!(le32(&b, 20), 224);
        assert_eq!(le32(&b, 24), 3);
        assert_eq!(le32(&b, 28), 250);
        assert_eq!(le32(&b, 32), 40);
        assert_eq!(le32(&b, 36), 40);
        assert_eq!(&b[40..], &frame[..]);
    }

    #[test]
    fn snaplen_cuts_but_keeps_original_length() {
        let mut w = PcapWriter::new(Vec::new(), 28).unwrap();
        w.write_frame(Duration::ZERO, &[0xab; 100]).unwrap();
        let b = w.into_inner();
        assert_eq!(le32(&b, 32), 28);
        assert_eq!(le32(&b, 36), 100);
        assert_eq!(b.len(), 24 + 16 + 28);
    }
}
