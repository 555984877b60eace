//! The in-process backend end to end, driven through the public `Device` API against the
//! `CopyEngine` test device: DMA copies, DMA errors as device status, doorbell delivery
//! (threaded and inline), config space, register bounds, reset and unmap.

#![allow(clippy::unwrap_used)] // a test crate: helpers outside #[test] fns unwrap too

use std::sync::Arc;

use ufc_vfio::dma::{ClassConfig, DmaPool, HugePages, IovaAllocator, PoolConfig};
use ufc_vfio::testdev::*;
use ufc_vfio::{Device, DeviceError, ModelOptions, ModelRunner, PCI_COMMAND, PCI_COMMAND_MASTER};

fn pool() -> Arc<DmaPool> {
    let cfg = PoolConfig {
        classes: vec![
            ClassConfig {
                buf_size: 4096,
                count: 8,
            },
            ClassConfig {
                buf_size: 65536,
                count: 2,
            },
        ],
        hugepages: HugePages::Never,
    };
    DmaPool::new(&cfg, &Arc::new(IovaAllocator::default())).unwrap()
}

/// A copy-engine device with the pool mapped.
fn device(pool: &DmaPool, opts: ModelOptions) -> Device {
    let dev = Device::from_model_with(CopyEngine::new(), opts);
    dev.dma_map(pool.memory()).unwrap();
    dev
}

fn program(dev: &Device, src: u64, dst: u64, len: u32) {
    let bar = dev.bar(0).unwrap();
    bar.write64(REG_SRC, src).unwrap();
    bar.write64(REG_DST, dst).unwrap();
    bar.write32(REG_LEN, len).unwrap();
}

#[test]
fn device_handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    fn send<T: Send>() {}
    check::<Device>();
    // One producer per doorbell ring: the handle moves between threads but is not shared.
    send::<ufc_vfio::Doorbell>();
    check::<ufc_vfio::Reg32>();
    check::<ufc_vfio::dma::DmaBuf>();
    check::<DmaPool>();
    check::<ufc_vfio::dma::DmaView>();
}

#[test]
fn copies_between_pool_buffers_with_model_thread() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let runner = ModelRunner::spawn(&dev, None).unwrap();
    let mut src = pool.alloc(4096).unwrap();
    let dst = pool.alloc(4096).unwrap();
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    src.write_at(0, &pattern).unwrap();
    program(&dev, src.iova(), dst.iova(), 4096);
    let bar = dev.bar(0).unwrap();
    assert_eq!(bar.read32(REG_ID).unwrap(), COPY_ENGINE_ID);
    let db = bar.doorbell(REG_DOORBELL).unwrap();
    db.write(1);
    // A register read is ordered after the doorbell (control accesses drain the queue).
    let commands = bar.reg32(REG_COMMANDS).unwrap();
    assert_eq!(commands.read(), 1);
    assert_eq!(bar.read32(REG_STATUS).unwrap(), STATUS_DONE);
    let mut out = vec![0u8; 4096];
    dst.read_at(0, &mut out).unwrap();
    assert_eq!(out, pattern);
    runner.stop();
}

#[test]
fn out_of_range_dma_is_a_device_error_status() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let _runner = ModelRunner::spawn(&dev, None).unwrap();
    let src = pool.alloc(4096).unwrap();
    let bar = dev.bar(0).unwrap();
    let db = bar.doorbell(REG_DOORBELL).unwrap();

    // Destination IOVA not mapped at all.
    program(&dev, src.iova(), 0x1000, 64);
    db.write(1);
    assert_eq!(bar.read32(REG_STATUS).unwrap(), STATUS_DONE | STATUS_ERROR);
    assert_eq!(bar.read32(REG_ERRORS).unwrap(), 1);
    assert_eq!(bar.read64(REG_ERROR_IOVA).unwrap(), 0x1000);

    // Source starts inside the pool region and runs past its end.
    let mem = pool.memory();
    let near_end = mem.iova() + mem.len() as u64 - 16;
    program(&dev, near_end, src.iova(), 64);
    db.write(1);
    assert_eq!(bar.read32(REG_STATUS).unwrap(), STATUS_DONE | STATUS_ERROR);
    assert_eq!(bar.read64(REG_ERROR_IOVA).unwrap(), near_end);

    // Oversized length.
    program(&dev, src.iova(), src.iova(), (MAX_COPY + 1) as u32);
    db.write(1);
    assert_eq!(bar.read32(REG_ERRORS).unwrap(), 3);

    // The device still works after errors.
    program(&dev, src.iova(), src.iova() + 2048, 64);
    db.write(1);
    assert_eq!(bar.read32(REG_STATUS).unwrap(), STATUS_DONE);
    assert_eq!(bar.read32(REG_COMMANDS).unwrap(), 4);
}

#[test]
fn million_back_to_back_doorbells_none_lost_with_model_thread() {
    const N: u32 = 1_000_000;
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let runner = ModelRunner::spawn(&dev, None).unwrap();
    let src = pool.alloc(4096).unwrap();
    let dst = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), dst.iova(), 64);
    let db = dev.doorbell(0, REG_DOORBELL).unwrap();
    for _ in 0..N {
        db.write(1);
    }
    let bar = dev.bar(0).unwrap();
    assert_eq!(bar.read32(REG_COMMANDS).unwrap(), N);
    assert_eq!(bar.read32(REG_ERRORS).unwrap(), 0);
    let stats = dev.model_stats().unwrap();
    assert_eq!(stats.doorbells_delivered, u64::from(N));
    assert_eq!(stats.doorbells_queued, 0);
    runner.stop();
}

#[test]
fn equal_doorbell_values_are_not_merged_and_counts_add() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let db = dev.doorbell(0, REG_DOORBELL).unwrap();
    db.write(3);
    db.write(3);
    db.write(0);
    db.write(5);
    assert_eq!(dev.bar(0).unwrap().read32(REG_COMMANDS).unwrap(), 11);
}

#[test]
fn inline_mode_runs_the_model_only_when_polled() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let db = dev.doorbell(0, REG_DOORBELL).unwrap();
    db.write(1);
    db.write(1);
    let before = dev.model_stats().unwrap();
    assert_eq!(before.doorbells_queued, 2);
    assert_eq!(before.doorbells_delivered, 0);
    assert!(dev.poll_model());
    assert!(!dev.poll_model(), "nothing left to do");
    let after = dev.model_stats().unwrap();
    assert_eq!(after.doorbells_queued, 0);
    assert_eq!(after.doorbells_delivered, 2);
    assert_eq!(dev.bar(0).unwrap().read32(REG_COMMANDS).unwrap(), 2);
}

#[test]
fn full_doorbell_queue_makes_the_writer_wait_not_drop() {
    let pool = pool();
    let dev = device(&pool, ModelOptions { doorbell_queue: 4 });
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let db = dev.doorbell(0, REG_DOORBELL).unwrap();
    // Inline mode, nobody polling: the writer drains the queue itself when it is full.
    for _ in 0..100 {
        db.write(1);
    }
    let stats = dev.model_stats().unwrap();
    assert!(stats.doorbell_full_waits > 0);
    assert_eq!(dev.bar(0).unwrap().read32(REG_COMMANDS).unwrap(), 100);
}

#[test]
fn doorbells_from_several_threads_all_arrive() {
    let pool = pool();
    let dev = device(&pool, ModelOptions { doorbell_queue: 64 });
    let runner = ModelRunner::spawn(&dev, None).unwrap();
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let db = dev.doorbell(0, REG_DOORBELL).unwrap();
            std::thread::spawn(move || {
                for _ in 0..50_000 {
                    db.write(1);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(dev.bar(0).unwrap().read32(REG_COMMANDS).unwrap(), 100_000);
    drop(runner);
}

#[test]
fn config_space_reads_writes_and_bounds() {
    let dev = Device::from_model(CopyEngine::new());
    assert_eq!(dev.config_read16(0).unwrap(), VENDOR_ID);
    assert_eq!(dev.config_read16(2).unwrap(), DEVICE_ID);
    assert_eq!(
        dev.config_read32(0).unwrap(),
        u32::from(DEVICE_ID) << 16 | u32::from(VENDOR_ID)
    );
    assert_eq!(dev.config_read8(1).unwrap(), (VENDOR_ID >> 8) as u8);
    dev.set_bus_master(true).unwrap();
    assert_eq!(
        dev.config_read16(PCI_COMMAND).unwrap() & PCI_COMMAND_MASTER,
        PCI_COMMAND_MASTER
    );
    dev.set_bus_master(false).unwrap();
    assert_eq!(
        dev.config_read16(PCI_COMMAND).unwrap() & PCI_COMMAND_MASTER,
        0
    );
    dev.config_write8(0, 0xff).unwrap();
    assert_eq!(dev.config_read16(0).unwrap(), VENDOR_ID, "read-only ID");

    let e = dev.config_read32(254).unwrap_err().to_string();
    assert_eq!(
        e,
        "copy-engine: config space access of 4 bytes at 0xfe is outside the 256-byte space \
         or not naturally aligned"
    );
    assert!(dev.config_read16(3).is_err(), "misaligned");
    assert!(dev.config_write32(256, 0).is_err());
}

#[test]
fn registers_and_doorbells_are_checked_at_creation() {
    let dev = Device::from_model(CopyEngine::new());
    let e = dev.bar(1).unwrap_err().to_string();
    assert_eq!(e, "copy-engine: BAR 1 does not exist");
    assert!(matches!(
        dev.bar(6),
        Err(DeviceError::NoSuchBar { bar: 6, .. })
    ));
    let bar = dev.bar(0).unwrap();
    assert_eq!(bar.len(), 4096);
    let e = bar.reg32(4096).unwrap_err().to_string();
    assert!(e.contains("BAR 0 access of 4 bytes at 0x1000"), "{e}");
    assert!(bar.reg64(0x0c).is_err(), "misaligned");
    let e = bar.doorbell(REG_LEN).unwrap_err().to_string();
    assert_eq!(
        e,
        "copy-engine: BAR 0 offset 0x18 is not a doorbell register of the model; declare it \
         in DeviceModel::doorbells()"
    );
    // A sub-window keeps BAR-absolute meaning: the doorbell is found through it too.
    let win = bar.window(0x100, 4).unwrap();
    assert!(win.doorbell(0).is_ok());
    assert!(win.reg32(4).is_err());
}

#[test]
fn plain_register_write_to_a_doorbell_offset_is_a_doorbell() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let bar = dev.bar(0).unwrap();
    let db = bar.doorbell(REG_DOORBELL).unwrap();
    db.write(1);
    // The control-path write arrives after the handle's queued write.
    bar.write32(REG_DOORBELL, 2).unwrap();
    let stats = dev.model_stats().unwrap();
    assert_eq!(stats.doorbells_queued, 0);
    assert_eq!(stats.doorbells_delivered, 2);
    assert_eq!(bar.read32(REG_COMMANDS).unwrap(), 3);
}

#[test]
fn dropped_doorbell_handle_still_delivers_then_its_ring_goes() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let db = dev.doorbell(0, REG_DOORBELL).unwrap();
    let keep = dev.doorbell(0, REG_DOORBELL).unwrap();
    db.write(4);
    drop(db);
    assert_eq!(dev.model_stats().unwrap().doorbell_rings, 2);
    assert!(dev.poll_model());
    let stats = dev.model_stats().unwrap();
    assert_eq!(stats.doorbells_delivered, 1);
    assert_eq!(stats.doorbell_rings, 1);
    keep.write(1);
    assert_eq!(dev.bar(0).unwrap().read32(REG_COMMANDS).unwrap(), 5);
}

#[test]
fn reset_clears_registers_but_keeps_mappings() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    let bar = dev.bar(0).unwrap();
    bar.write32(REG_DOORBELL, 1).unwrap();
    dev.reset().unwrap();
    assert_eq!(bar.read32(REG_COMMANDS).unwrap(), 0);
    assert_eq!(bar.read64(REG_SRC).unwrap(), 0);
    program(&dev, src.iova(), src.iova() + 1024, 8);
    bar.write32(REG_DOORBELL, 1).unwrap();
    assert_eq!(bar.read32(REG_STATUS).unwrap(), STATUS_DONE);
}

#[test]
fn unmapped_memory_is_unreachable_and_double_unmap_is_an_error() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let src = pool.alloc(4096).unwrap();
    dev.dma_unmap(pool.memory()).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    dev.bar(0).unwrap().write32(REG_DOORBELL, 1).unwrap();
    assert_eq!(dev.bar(0).unwrap().read32(REG_ERRORS).unwrap(), 1);
    let e = dev.dma_unmap(pool.memory()).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "copy-engine: DMA region at IOVA {:#x} is not mapped",
            pool.memory().iova()
        )
    );
}

#[test]
fn runner_can_be_pinned_and_stopped_and_inline_resumes() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    let runner = ModelRunner::spawn(&dev, Some(0)).unwrap();
    assert_eq!(runner.name(), "copy-engine");
    runner.stop();
    let e = ModelRunner::spawn(&dev, Some(100_000))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot pin thread to CPU 100000"), "{e}");
    let src = pool.alloc(4096).unwrap();
    program(&dev, src.iova(), src.iova() + 1024, 8);
    dev.doorbell(0, REG_DOORBELL).unwrap().write(1);
    assert!(dev.poll_model());
}

#[test]
fn overlapping_dma_map_is_refused_with_reason() {
    let pool = pool();
    let dev = device(&pool, ModelOptions::default());
    // Memory from a second allocator over the default window collides with the pool.
    let other = Arc::new(IovaAllocator::default());
    let clash = ufc_vfio::dma::DmaMemory::allocate(4096, HugePages::Never, &other).unwrap();
    assert_eq!(clash.iova(), pool.memory().iova());
    let e = dev.dma_map(&clash).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "copy-engine: DMA map of IOVA {:#x}+0x1000 failed",
            clash.iova()
        )),
        "{e}"
    );
    assert!(e.contains("overlaps a region already mapped"), "{e}");
    // Mapping the same region twice is idempotent.
    dev.dma_map(pool.memory()).unwrap();
}

/// A model that panics on its first doorbell: the device must turn dead, not hang or UB.
struct Faulty;

impl ufc_vfio::DeviceModel for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    fn bar_len(&self, bar: u8) -> u64 {
        if bar == 0 {
            64
        } else {
            0
        }
    }
    fn doorbells(&self) -> Vec<ufc_vfio::DoorbellRegister> {
        vec![ufc_vfio::DoorbellRegister { bar: 0, offset: 0 }]
    }
    fn set_dma_view(&mut self, _view: ufc_vfio::dma::DmaView) {}
    fn config_read(&mut self, _offset: u16, data: &mut [u8]) {
        data.fill(0);
    }
    fn config_write(&mut self, _offset: u16, _data: &[u8]) {}
    fn bar_read(&mut self, _bar: u8, _offset: u64, data: &mut [u8]) {
        data.fill(0x11);
    }
    fn bar_write(&mut self, _bar: u8, _offset: u64, _data: &[u8]) {}
    fn doorbell(&mut self, _doorbell: usize, _value: u32) {
        panic!("model bug");
    }
    fn reset(&mut self) -> Result<(), String> {
        Err("no reset in this model".into())
    }
}

#[test]
fn panicking_model_makes_a_dead_device_with_clear_errors() {
    let dev = Device::from_model(Faulty);
    let bar = dev.bar(0).unwrap();
    assert_eq!(bar.read32(4).unwrap(), 0x1111_1111);
    let e = dev.reset().unwrap_err().to_string();
    assert_eq!(
        e,
        "faulty: function reset is not supported by the device (no reset in this model)"
    );
    let runner = ModelRunner::spawn(&dev, None).unwrap();
    assert!(!dev.model_stats().unwrap().dead);
    bar.doorbell(0).unwrap().write(1);
    // The model thread panics holding the lock and exits.
    while !dev.model_stats().unwrap().dead {
        std::thread::yield_now();
    }
    runner.stop();
    // Reads of a dead device return all ones, as PCIe does for a vanished function.
    assert_eq!(bar.read32(4).unwrap(), u32::MAX);
    let e = dev.config_read16(0).unwrap_err().to_string();
    assert_eq!(
        e,
        "device model faulty panicked earlier; the device is dead, recreate it"
    );
    assert!(!dev.poll_model());
}
