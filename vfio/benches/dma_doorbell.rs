//! Costs of the two hot paths ufc-vfio provides: DMA pool alloc+free, and a doorbell
//! write to an in-process device model running on the other core.
//!
//! Run: `cargo bench -p ufc-vfio` (pins the writer to CPU 0 and the model to CPU 1).
//! Not a test: it asserts only that no doorbell was lost, and prints numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ufc_vfio::dma::{DmaPool, DmaView, IovaAllocator, PoolConfig};
use ufc_vfio::model::pin_current_thread;
use ufc_vfio::model::{IdlePolicy, RunnerOptions};
use ufc_vfio::{Device, DeviceModel, DoorbellRegister, ModelRunner};

/// A device that only counts doorbell values, so the bench measures delivery.
struct Counter {
    total: Arc<AtomicU64>,
    local: u64,
}

impl DeviceModel for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn bar_len(&self, bar: u8) -> u64 {
        if bar == 0 {
            4096
        } else {
            0
        }
    }
    fn doorbells(&self) -> Vec<DoorbellRegister> {
        vec![DoorbellRegister { bar: 0, offset: 0 }]
    }
    fn set_dma_view(&mut self, _view: DmaView) {}
    fn config_read(&mut self, _offset: u16, data: &mut [u8]) {
        data.fill(0);
    }
    fn config_write(&mut self, _offset: u16, _data: &[u8]) {}
    fn bar_read(&mut self, _bar: u8, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn bar_write(&mut self, _bar: u8, _offset: u64, _data: &[u8]) {}
    fn doorbell(&mut self, _doorbell: usize, value: u32) {
        self.local += u64::from(value);
        // Published for the bench to watch without touching the device.
        self.total.store(self.local, Ordering::Release);
    }
    fn reset(&mut self) -> Result<(), String> {
        Ok(())
    }
}

fn ns_per(d: Duration, n: u64) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn bench_pool() {
    let pool = DmaPool::new(&PoolConfig::default(), &Arc::new(IovaAllocator::default()))
        .expect("DMA pool");
    let n = 20_000_000u64;
    for _ in 0..100_000 {
        black_box(pool.alloc(4096));
    }
    let t = Instant::now();
    for _ in 0..n {
        let b = pool.alloc(black_box(4096));
        black_box(&b);
        drop(b);
    }
    let one = t.elapsed();
    // Batches of 32 as a driver would hold them across a submit.
    let mut held = Vec::with_capacity(32);
    let rounds = n / 32;
    let t = Instant::now();
    for _ in 0..rounds {
        for _ in 0..32 {
            held.push(pool.alloc(black_box(4096)));
        }
        held.clear();
    }
    let batch = t.elapsed();
    println!(
        "pool alloc+free (4 KiB class), one at a time: {:6.1} ns/pair  ({n} pairs)",
        ns_per(one, n)
    );
    println!(
        "pool alloc+free (4 KiB class), 32 held:       {:6.1} ns/pair  ({} pairs)",
        ns_per(batch, rounds * 32),
        rounds * 32
    );
    assert_eq!(pool.in_use(), 0);
}

fn bench_doorbell_threaded(writer_cpu: usize, model_cpu: usize) {
    let total = Arc::new(AtomicU64::new(0));
    let dev = Device::from_model(Counter {
        total: Arc::clone(&total),
        local: 0,
    });
    let opts = RunnerOptions {
        cpu: Some(model_cpu),
        idle: IdlePolicy::Spin,
    };
    let runner = ModelRunner::spawn_with(&dev, opts).expect("model thread");
    pin_current_thread(writer_cpu).expect("pin writer");
    let db = dev.doorbell(0, 0).unwrap();
    for _ in 0..100_000 {
        db.write(1);
    }
    while total.load(Ordering::Acquire) < 100_000 {
        std::hint::spin_loop();
    }
    let base = total.load(Ordering::Acquire);
    let waits0 = dev.model_stats().unwrap().doorbell_full_waits;
    let n = 20_000_000u64;
    let t = Instant::now();
    for _ in 0..n {
        db.write(black_box(1));
    }
    let written = t.elapsed();
    while total.load(Ordering::Acquire) < base + n {
        std::hint::spin_loop();
    }
    let delivered = t.elapsed();
    let stats = dev.model_stats().unwrap();
    assert_eq!(total.load(Ordering::Acquire), base + n, "doorbells lost");
    // Bursts as a driver rings them (one per submitted batch), each drained before the
    // next: the writer's cost when the queue has room, and the delivery latency. Medians,
    // because on a shared machine a preempted burst would dominate a mean.
    let burst = 64u64;
    let rounds = 100_000usize;
    let mut write_ns = Vec::with_capacity(rounds);
    let mut drain_ns = Vec::with_capacity(rounds);
    let mut expected = total.load(Ordering::Acquire);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..burst {
            db.write(black_box(1));
        }
        write_ns.push(t.elapsed().as_nanos() as u64);
        expected += burst;
        while total.load(Ordering::Acquire) < expected {
            std::hint::spin_loop();
        }
        drain_ns.push(t.elapsed().as_nanos() as u64);
    }
    write_ns.sort_unstable();
    drain_ns.sort_unstable();
    let pct = |v: &[u64], p: usize| v[(v.len() - 1) * p / 100];
    println!(
        "doorbell write, bursts of {burst} with room in the queue: median {:6.1} ns/write at \
         the writer (p99 {:6.1}); last doorbell of a burst delivered {} ns after the first \
         write (median; p99 {} ns; {rounds} bursts)",
        pct(&write_ns, 50) as f64 / burst as f64,
        pct(&write_ns, 99) as f64 / burst as f64,
        pct(&drain_ns, 50),
        pct(&drain_ns, 99),
    );
    println!(
        "doorbell write, model thread on CPU {model_cpu}, writer on CPU {writer_cpu}: \
         {:6.1} ns/write at the writer, {:6.1} ns/doorbell delivered ({n} writes, \
         {} writes found the queue full)",
        ns_per(written, n),
        ns_per(delivered, n),
        stats.doorbell_full_waits - waits0
    );
    runner.stop();
}

fn bench_doorbell_inline() {
    let total = Arc::new(AtomicU64::new(0));
    let dev = Device::from_model(Counter {
        total: Arc::clone(&total),
        local: 0,
    });
    let db = dev.doorbell(0, 0).unwrap();
    let n = 20_000_000u64;
    let t = Instant::now();
    for i in 0..n {
        db.write(black_box(1));
        if i % 32 == 31 {
            dev.poll_model();
        }
    }
    dev.poll_model();
    let d = t.elapsed();
    assert_eq!(total.load(Ordering::Acquire), n, "doorbells lost");
    println!(
        "doorbell write + inline model, poll every 32:  {:6.1} ns/doorbell ({n} writes)",
        ns_per(d, n)
    );
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("ufc-vfio dma_doorbell benchmark ({cpus} CPUs)");
    bench_pool();
    bench_doorbell_inline();
    if cpus >= 2 {
        bench_doorbell_threaded(0, 1);
    } else {
        println!("doorbell to a model thread: skipped (needs 2 CPUs)");
    }
}
