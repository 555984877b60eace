//! Untrusted input: whatever a host port sends, the fabric neither panics nor
//! loses its footing — a proper login still works afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (house rules)

mod fabric_util;

use fabric_util::{fabric, Host};
use proptest::prelude::*;
use ufc_emu::fabric::{FabricConfig, NAME_SERVER_DID};
use ufc_hba::fc::els::els_cmd;
use ufc_hba::fc::frame::Frame;
use ufc_hba::fc::header::FcHeader;

const TARGET_ID: u32 = 0x01_0101;

/// Destinations worth aiming at: the services, the target, the host itself,
/// nobody.
fn d_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0xff_fffe),
        Just(0xff_fffd),
        Just(NAME_SERVER_DID),
        Just(TARGET_ID),
        Just(0x01_0100),
        any::<u32>().prop_map(|v| v & 0xff_ffff),
    ]
}

/// R_CTL/TYPE pairs the fabric routes on, plus noise.
fn kind() -> impl Strategy<Value = (u8, u8)> {
    prop_oneof![
        Just((0x22, 0x01)),
        Just((0x23, 0x01)),
        Just((0x02, 0x20)),
        Just((0x32, 0x28)),
        Just((0x33, 0x28)),
        Just((0x81, 0x00)),
        Just((0x06, 0x28)),
        (any::<u8>(), any::<u8>()),
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..160),
        // Valid command bytes up front so the decoders get past the first check.
        (
            prop_oneof![
                Just(0x03u8),
                Just(0x04),
                Just(0x05),
                Just(0x20),
                Just(0x62),
                Just(0x01)
            ],
            proptest::collection::vec(any::<u8>(), 0..140)
        )
            .prop_map(|(c, mut v)| {
                v.insert(0, c);
                v
            }),
        proptest::collection::vec(any::<u8>(), 1000..1100),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_frames_never_panic(
        frames in proptest::collection::vec((d_id(), kind(), any::<u16>(), payload()), 1..24),
        logged_in in any::<bool>(),
    ) {
        let (f, _hand) = fabric(FabricConfig::default());
        let mut h = Host::attach(&f, 0);
        if logged_in {
            h.flogi();
            h.plogi(NAME_SERVER_DID);
            h.plogi(TARGET_ID);
            h.nvme_prli(TARGET_ID);
        }
        for (d, (rctl, ty), ox, p) in frames {
            let mut hdr = FcHeader::request(rctl, ty, d, h.id, ox);
            hdr.set_f_ctl(u32::from(ox) << 8);
            let _ = h.port.send_frame(Frame::new(hdr, p));
            h.collect();
        }
        // Raw bytes that are not even a frame are refused, not routed.
        prop_assert!(h.port.send(&[0u8; 10]).is_err());
        // The fabric still works: log in from scratch.
        let acc = h.flogi();
        prop_assert_eq!(acc.payload[0], els_cmd::LS_ACC);
        prop_assert_eq!(h.plogi(TARGET_ID).payload[0], els_cmd::LS_ACC);
        prop_assert_eq!(h.nvme_prli(TARGET_ID).payload[0], els_cmd::LS_ACC);
    }
}
