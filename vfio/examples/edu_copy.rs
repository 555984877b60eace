//! The smallest complete use of ufc-vfio: DMA memory, a device, a doorbell.
//!
//! A software copy engine (like QEMU's `edu`) runs on its own thread behind the
//! in-process backend. The driver side allocates two buffers from the DMA pool, maps the
//! pool into the device's IOVA space, programs source, destination and length through
//! BAR 0, rings the doorbell and checks what the device wrote. The same `Device` calls
//! drive a real adapter through kernel VFIO (`Device::open_vfio`).

use std::sync::Arc;
use std::time::Instant;

use ufc_vfio::dma::{DmaPool, IovaAllocator, PoolConfig};
use ufc_vfio::testdev::{
    CopyEngine, REG_COMMANDS, REG_DOORBELL, REG_DST, REG_ERRORS, REG_LEN, REG_SRC, REG_STATUS,
    STATUS_DONE,
};
use ufc_vfio::{Device, ModelRunner};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // DMA memory: memfd-backed, mlocked, hugepages when the pool has free ones.
    let pool = DmaPool::new(&PoolConfig::default(), &Arc::new(IovaAllocator::default()))?;
    let hugepages = pool.memory().is_hugepage();

    // The device: a model on its own thread, with our pool mapped for its DMA.
    let dev = Device::from_model(CopyEngine::new());
    dev.dma_map(pool.memory())?;
    let runner = ModelRunner::spawn(&dev, None)?;

    let mut src = pool
        .alloc(4096)
        .ok_or("DMA pool has no free 4 KiB buffer")?;
    let dst = pool
        .alloc(4096)
        .ok_or("DMA pool has no free 4 KiB buffer")?;
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    src.write_at(0, &pattern)?;

    // Registers are checked once, when their handles are made; the doorbell is the hot path.
    let bar = dev.bar(0)?;
    bar.write64(REG_SRC, src.iova())?;
    bar.write64(REG_DST, dst.iova())?;
    bar.write32(REG_LEN, 4096)?;
    let doorbell = bar.doorbell(REG_DOORBELL)?;
    let commands = bar.reg32(REG_COMMANDS)?;

    doorbell.write(1);
    let mut copy = vec![0u8; 4096];
    // A register read is ordered after every doorbell written before it.
    let status = bar.read32(REG_STATUS)?;
    dst.read_at(0, &mut copy)?;
    println!(
        "copy of 4096 bytes from IOVA {:#x} to {:#x}: status {:#x}, data {}",
        src.iova(),
        dst.iova(),
        status,
        if status == STATUS_DONE && copy == pattern {
            "verified"
        } else {
            "WRONG"
        }
    );

    // Back-to-back doorbells: every one must arrive (each one runs the copy once).
    const N: u32 = 100_000;
    let start = Instant::now();
    for _ in 0..N {
        doorbell.write(1);
    }
    let written = start.elapsed();
    let executed = commands.read();
    println!(
        "{N} doorbells written in {:.1} ms ({:.1} ns each); device executed {} commands, {} errors",
        written.as_secs_f64() * 1e3,
        written.as_nanos() as f64 / f64::from(N),
        executed,
        bar.read32(REG_ERRORS)?
    );
    println!(
        "DMA memory: {} (pool of {} bytes at IOVA {:#x})",
        if hugepages {
            "2 MiB hugepages"
        } else {
            "4 KiB pages"
        },
        pool.memory().len(),
        pool.memory().iova()
    );
    runner.stop();
    if executed != N + 1 || status != STATUS_DONE || copy != pattern {
        return Err("the copy engine lost a doorbell or copied wrong data".into());
    }
    Ok(())
}
