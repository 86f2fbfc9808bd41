//! The router's terminator table: which channel hosts which service, and how a dial picks one.
//!
//! A terminator is created by a Bind and lives until Unbind, a failed post-create inspect, or
//! the close of its channel. Selection follows the controller (ziti-edge-protocol.md §5):
//! * a dial **with** an instance id (Connect header 1006) only considers terminators whose
//!   instance id is exactly equal; a dial **without** one only considers terminators without
//!   an instance id;
//! * candidates are ordered by precedence-biased cost (required < default < failed, each
//!   range a quarter of `u32`, then the terminator cost inside its range); among the cheapest,
//!   dials rotate.
//!
//! An instance id belongs to one identity per service: a Bind naming an instance id already used
//! by a terminator of a *different* identity is refused ([`TerminatorTable::instance_conflict`]).
//! The table holds no I/O handles of its own: [`Terminator::host`] is an opaque key the
//! caller resolves.

use std::collections::BTreeMap;

use dark_listener::wire::consts::Precedence;
use dark_listener::wire::edge::PublicKey;

use super::denial::Denial;

/// Width of one precedence range of biased costs (`u32::MAX / 4`, as the controller).
const PRECEDENCE_RANGE: u64 = u32::MAX as u64 / 4;

/// One hosted service endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminator {
    /// Router-assigned id (also the "terminator address" in dial errors).
    pub id: String,
    /// The service hosted.
    pub service_id: String,
    /// The identity of the hosting channel.
    pub identity_id: String,
    /// The hosting channel (router-internal id).
    pub host: u64,
    /// The host's bind conn id (header 1000 of the Bind).
    pub bind_conn_id: u32,
    /// The Bind session token (the body of every Dial to this terminator).
    pub bind_token: bytes::Bytes,
    /// Header 1006 of the Bind.
    pub instance_id: Option<String>,
    /// Header 1004.
    pub cost: u16,
    /// Header 1005.
    pub precedence: Precedence,
    /// Header 1003: the host's key for encrypted services.
    pub public_key: Option<PublicKey>,
    /// Header 1012 of the Bind: the router picks the ids of accepted conns.
    pub router_provided_conn_ids: bool,
}

impl Terminator {
    /// Cost biased into its precedence range.
    pub fn biased_cost(&self) -> u64 {
        let base = match self.precedence {
            Precedence::Required => 0,
            Precedence::Default => PRECEDENCE_RANGE,
            Precedence::Failed => 2 * PRECEDENCE_RANGE,
        };
        base + u64::from(self.cost)
    }
}

/// All terminators of the router, by id.
#[derive(Debug, Default)]
pub struct TerminatorTable {
    by_id: BTreeMap<String, Terminator>,
    next_id: u64,
    rotation: u64,
}

impl TerminatorTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh terminator id.
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("lab-t{}", self.next_id)
    }

    /// Number of terminators.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of terminators hosted by one channel.
    pub fn count_host(&self, host: u64) -> usize {
        self.by_id.values().filter(|t| t.host == host).count()
    }

    /// Whether the channel already has a terminator for this bind conn id.
    pub fn has_bind(&self, host: u64, bind_conn_id: u32) -> bool {
        self.by_id
            .values()
            .any(|t| t.host == host && t.bind_conn_id == bind_conn_id)
    }

    /// The terminator with this id.
    pub fn get(&self, id: &str) -> Option<&Terminator> {
        self.by_id.get(id)
    }

    /// Terminators of one service.
    pub fn for_service<'a>(&'a self, service_id: &'a str) -> impl Iterator<Item = &'a Terminator> {
        self.by_id
            .values()
            .filter(move |t| t.service_id == service_id)
    }

    /// The terminator of another identity already using `instance_id` for `service_id`.
    pub fn instance_conflict(
        &self,
        service_id: &str,
        instance_id: &str,
        identity_id: &str,
    ) -> Option<&Terminator> {
        self.by_id.values().find(|t| {
            t.service_id == service_id
                && t.instance_id.as_deref() == Some(instance_id)
                && t.identity_id != identity_id
        })
    }

    /// Adds a terminator, replacing any terminator of the same channel and bind conn id (a
    /// re-bind). Returns the ids replaced.
    pub fn insert(&mut self, terminator: Terminator) -> Vec<String> {
        let replaced: Vec<String> = self
            .by_id
            .values()
            .filter(|t| t.host == terminator.host && t.bind_conn_id == terminator.bind_conn_id)
            .map(|t| t.id.clone())
            .collect();
        for id in &replaced {
            self.by_id.remove(id);
        }
        self.by_id.insert(terminator.id.clone(), terminator);
        replaced
    }

    /// Removes one terminator.
    pub fn remove(&mut self, id: &str) -> Option<Terminator> {
        self.by_id.remove(id)
    }

    /// Removes the terminators of one bind (channel + bind conn id).
    pub fn remove_bind(&mut self, host: u64, bind_conn_id: u32) -> Vec<Terminator> {
        self.remove_where(|t| t.host == host && t.bind_conn_id == bind_conn_id)
    }

    /// Removes every terminator of a channel.
    pub fn remove_host(&mut self, host: u64) -> Vec<Terminator> {
        self.remove_where(|t| t.host == host)
    }

    fn remove_where(&mut self, pred: impl Fn(&Terminator) -> bool) -> Vec<Terminator> {
        let ids: Vec<String> = self
            .by_id
            .values()
            .filter(|t| pred(t))
            .map(|t| t.id.clone())
            .collect();
        ids.iter().filter_map(|id| self.by_id.remove(id)).collect()
    }

    /// Changes cost and/or precedence of the terminators of one bind. Returns how many changed.
    pub fn update_bind(
        &mut self,
        host: u64,
        bind_conn_id: u32,
        cost: Option<u16>,
        precedence: Option<Precedence>,
    ) -> usize {
        let mut n = 0;
        for t in self
            .by_id
            .values_mut()
            .filter(|t| t.host == host && t.bind_conn_id == bind_conn_id)
        {
            if let Some(c) = cost {
                t.cost = c;
            }
            if let Some(p) = precedence {
                t.precedence = p;
            }
            n += 1;
        }
        n
    }

    /// Picks the terminator for a dial of `service_id`, addressed to `instance_id` or not.
    pub fn select(
        &mut self,
        service_id: &str,
        instance_id: Option<&str>,
    ) -> Result<Terminator, Denial> {
        let mut any = false;
        let mut candidates: Vec<&Terminator> = self
            .for_service(service_id)
            .inspect(|_| any = true)
            .filter(|t| t.instance_id.as_deref() == instance_id)
            .collect();
        if candidates.is_empty() {
            return Err(if any {
                Denial::NoTerminatorsForInstance {
                    service_id: service_id.to_owned(),
                    instance_id: instance_id.unwrap_or_default().to_owned(),
                }
            } else {
                Denial::NoTerminators {
                    service_id: service_id.to_owned(),
                }
            });
        }
        candidates.sort_by(|a, b| {
            a.biased_cost()
                .cmp(&b.biased_cost())
                .then_with(|| a.id.cmp(&b.id))
        });
        let cheapest = candidates[0].biased_cost();
        let tied = candidates
            .iter()
            .take_while(|t| t.biased_cost() == cheapest)
            .count();
        let pick = usize::try_from(self.rotation % tied as u64).unwrap_or(0);
        let chosen = candidates[pick].clone();
        self.rotation = self.rotation.wrapping_add(1);
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(
        table: &mut TerminatorTable,
        host: u64,
        identity: &str,
        instance: Option<&str>,
        cost: u16,
        precedence: Precedence,
    ) -> String {
        let id = table.next_id();
        table.insert(Terminator {
            id: id.clone(),
            service_id: "svc".into(),
            identity_id: identity.into(),
            host,
            bind_conn_id: u32::try_from(host).unwrap(),
            bind_token: bytes::Bytes::from_static(b"tok"),
            instance_id: instance.map(str::to_owned),
            cost,
            precedence,
            public_key: None,
            router_provided_conn_ids: true,
        });
        id
    }

    #[test]
    fn no_terminators_at_all() {
        let mut t = TerminatorTable::new();
        assert_eq!(
            t.select("svc", None),
            Err(Denial::NoTerminators {
                service_id: "svc".into()
            })
        );
    }

    #[test]
    fn instance_id_rule_is_exact_both_ways() {
        let mut t = TerminatorTable::new();
        let a = term(&mut t, 1, "ida", Some("alpha"), 0, Precedence::Default);
        // A plain dial never reaches an addressable terminator.
        assert_eq!(
            t.select("svc", None),
            Err(Denial::NoTerminatorsForInstance {
                service_id: "svc".into(),
                instance_id: String::new()
            })
        );
        assert_eq!(t.select("svc", Some("alpha")).unwrap().id, a);
        assert!(t.select("svc", Some("alph")).is_err());
        let plain = term(&mut t, 2, "idb", None, 0, Precedence::Default);
        assert_eq!(t.select("svc", None).unwrap().id, plain);
        assert_eq!(t.select("svc", Some("alpha")).unwrap().id, a);
    }

    #[test]
    fn precedence_beats_cost_and_cost_orders_inside_a_precedence() {
        let mut t = TerminatorTable::new();
        let _failed = term(&mut t, 1, "i", None, 0, Precedence::Failed);
        let default_cheap = term(&mut t, 2, "i", None, 10, Precedence::Default);
        let _default_dear = term(&mut t, 3, "i", None, 500, Precedence::Default);
        for _ in 0..4 {
            assert_eq!(t.select("svc", None).unwrap().id, default_cheap);
        }
        let required = term(&mut t, 4, "i", None, 65535, Precedence::Required);
        assert_eq!(t.select("svc", None).unwrap().id, required);
    }

    #[test]
    fn equal_costs_rotate() {
        let mut t = TerminatorTable::new();
        let a = term(&mut t, 1, "i", None, 5, Precedence::Default);
        let b = term(&mut t, 2, "i", None, 5, Precedence::Default);
        let picks: Vec<String> = (0..4).map(|_| t.select("svc", None).unwrap().id).collect();
        assert!(picks.contains(&a) && picks.contains(&b), "{picks:?}");
    }

    #[test]
    fn instance_conflict_only_for_other_identities() {
        let mut t = TerminatorTable::new();
        term(&mut t, 1, "ida", Some("alpha"), 0, Precedence::Default);
        assert!(t.instance_conflict("svc", "alpha", "ida").is_none());
        assert!(t.instance_conflict("svc", "alpha", "idb").is_some());
        assert!(t.instance_conflict("other", "alpha", "idb").is_none());
    }

    #[test]
    fn rebind_replaces_and_host_removal_clears() {
        let mut t = TerminatorTable::new();
        term(&mut t, 1, "i", None, 0, Precedence::Default);
        term(&mut t, 1, "i", None, 0, Precedence::Default);
        assert_eq!(t.len(), 1);
        term(&mut t, 2, "i", None, 0, Precedence::Default);
        assert_eq!(t.update_bind(2, 2, Some(9), Some(Precedence::Required)), 1);
        assert_eq!(t.remove_host(1).len(), 1);
        assert_eq!(t.remove_bind(2, 2).len(), 1);
        assert!(t.is_empty());
    }
}
