//! `entropy` collector: available entropy and pool size of the kernel's random number
//! generator from `/proc/sys/kernel/random/`.

use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::read::read_u64;

/// Exports `node_entropy_available_bits` and `node_entropy_pool_size_bits`.
pub struct EntropyCollector {
    options: Arc<CollectorOptions>,
}

impl EntropyCollector {
    /// A collector reading `<procfs>/sys/kernel/random/`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        EntropyCollector { options }
    }
}

impl HostCollector for EntropyCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let p = &self.options.paths;
        let avail = read_u64(&p.proc("sys/kernel/random/entropy_avail"))?;
        out.gauge(
            "node_entropy_available_bits",
            "Bits of entropy available.",
            vec![],
            avail as f64,
        );
        let pool = read_u64(&p.proc("sys/kernel/random/poolsize"))?;
        out.gauge(
            "node_entropy_pool_size_bits",
            "Size of the entropy pool in bits.",
            vec![],
            pool as f64,
        );
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "entropy",
    default_enabled: true,
    build: |options| Box::new(EntropyCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let f = run(&EntropyCollector::new(fixture_options()));
        assert_eq!(value(&f, "node_entropy_available_bits", &[]), 256.0);
        assert_eq!(value(&f, "node_entropy_pool_size_bits", &[]), 256.0);
    }
}
