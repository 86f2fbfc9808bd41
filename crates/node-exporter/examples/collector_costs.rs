//! Time each collector alone on this host (200 runs each, one thread; netclass also as it
//! reads sysfs alone, `--no-collector.netclass.netlink`), then a whole scrape,
//! merging the collectors' sets into one sorted list, and the 0.0.4 rendering, to see where
//! scrape CPU goes:
//!
//! ```text
//! cargo run --release -p node-exporter --example collector_costs
//! ```

use std::sync::Arc;
use std::time::Instant;

/// Microseconds per `update` of `col`, over 200 runs.
fn time_updates(col: &dyn node_exporter::HostCollector) -> f64 {
    let t = Instant::now();
    for _ in 0..200 {
        let mut f = node_exporter::Families::new();
        let _ = col.update(&mut f);
    }
    t.elapsed().as_secs_f64() / 200.0 * 1e6
}

fn main() {
    let o = Arc::new(
        node_exporter::CollectorOptions::defaults(node_exporter::HostPaths::default()).unwrap(),
    );
    let mut total = 0.0;
    let mut sets = Vec::new();
    for c in node_exporter::COLLECTORS {
        let col = node_exporter::collectors::build(c.name, &o).unwrap();
        let mut f = node_exporter::Families::new();
        let _ = col.update(&mut f);
        sets.push(f.clone());
        let us = time_updates(col.as_ref());
        total += us;
        println!("{:<18} {:>8.1} us", c.name, us);
    }
    println!("total {:.1} us", total);
    let mut sysfs_only = (*o).clone();
    sysfs_only.netclass_source = node_exporter::collectors::netclass::NetclassSource::Sysfs;
    let col = node_exporter::collectors::build("netclass", &Arc::new(sysfs_only)).unwrap();
    println!(
        "netclass from sysfs alone {:.1} us",
        time_updates(col.as_ref())
    );
    let names: Vec<&str> = node_exporter::COLLECTORS.iter().map(|c| c.name).collect();
    let ne = node_exporter::NodeExporter::new(
        &names,
        (*o).clone(),
        node_exporter::DEFAULT_COLLECTOR_TIMEOUT,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fams = rt.block_on(ne.scrape());
    let t = Instant::now();
    for _ in 0..200 {
        let f = rt.block_on(ne.scrape());
        std::hint::black_box(node_exporter::render_text(&f));
    }
    println!(
        "scrape+render {:.1} us wall",
        t.elapsed().as_secs_f64() / 200.0 * 1e6
    );
    let t = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(node_exporter::render_text(&fams));
    }
    println!("render {:.1} us", t.elapsed().as_secs_f64() / 200.0 * 1e6);
    // The merge alone: clones made first, dropping the result included.
    let copies: Vec<Vec<node_exporter::Families>> = (0..2000).map(|_| sets.clone()).collect();
    let t = Instant::now();
    for c in copies {
        std::hint::black_box(node_exporter::Families::merge_sorted(c));
    }
    println!(
        "merge of the {} sets {:.1} us",
        sets.len(),
        t.elapsed().as_secs_f64() / 2000.0 * 1e6
    );
}
