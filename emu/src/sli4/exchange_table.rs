//! The open exchanges by XRI (= OX_ID): a slot per XRI of the port's range,
//! allocated when the function is created, so opening and ending an exchange
//! on the I/O path neither allocates nor moves other entries (a map's nodes
//! would do both). A WQE naming an XRI outside the range (a BLP-described SGL
//! needs no posted one) still works, through a map on the side.

use std::collections::BTreeMap;

use super::resources::Range;
use super::wq::Exchange;

/// Open exchanges keyed by XRI, iterated in XRI order.
#[derive(Debug, Default)]
pub(crate) struct ExchangeTable {
    base: u16,
    slots: Vec<Option<Exchange>>,
    /// XRIs outside `base..base + slots.len()`.
    other: BTreeMap<u16, Exchange>,
}

impl ExchangeTable {
    /// A slot for every XRI of `xris`.
    pub(crate) fn new(xris: Range) -> ExchangeTable {
        ExchangeTable {
            base: xris.base,
            slots: std::iter::repeat_with(|| None)
                .take(xris.count.into())
                .collect(),
            other: BTreeMap::new(),
        }
    }

    fn slot(&self, xri: u16) -> Option<usize> {
        let i = usize::from(xri.checked_sub(self.base)?);
        (i < self.slots.len()).then_some(i)
    }

    pub(crate) fn get(&self, xri: &u16) -> Option<&Exchange> {
        match self.slot(*xri) {
            Some(i) => self.slots[i].as_ref(),
            None => self.other.get(xri),
        }
    }

    pub(crate) fn get_mut(&mut self, xri: &u16) -> Option<&mut Exchange> {
        match self.slot(*xri) {
            Some(i) => self.slots[i].as_mut(),
            None => self.other.get_mut(xri),
        }
    }

    pub(crate) fn contains_key(&self, xri: &u16) -> bool {
        self.get(xri).is_some()
    }

    /// Opens `xri`; the exchange it replaces, if any.
    pub(crate) fn insert(&mut self, xri: u16, x: Exchange) -> Option<Exchange> {
        match self.slot(xri) {
            Some(i) => self.slots[i].replace(x),
            None => self.other.insert(xri, x),
        }
    }

    pub(crate) fn remove(&mut self, xri: &u16) -> Option<Exchange> {
        match self.slot(*xri) {
            Some(i) => self.slots[i].take(),
            None => self.other.remove(xri),
        }
    }

    /// (XRI, exchange) in XRI order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, &Exchange)> {
        let below = self.other.range(..self.base);
        let above = self.other.range(self.base..);
        let base = self.base;
        below
            .map(|(k, x)| (*k, x))
            .chain(self.slots.iter().enumerate().filter_map(move |(i, s)| {
                // `i` < the range's count (a u16): the XRI fits.
                s.as_ref().map(|x| (base.wrapping_add(i as u16), x))
            }))
            .chain(above.map(|(k, x)| (*k, x)))
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &Exchange> {
        self.iter().map(|(_, x)| x)
    }

    /// Keeps the exchanges `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Exchange) -> bool) {
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|x| !keep(x)) {
                *s = None;
            }
        }
        self.other.retain(|_, x| keep(x));
    }

    /// Ends every exchange: (XRI, exchange) in XRI order (link down).
    pub(crate) fn take_all(&mut self) -> Vec<(u16, Exchange)> {
        let xris: Vec<u16> = self.iter().map(|(xri, _)| xri).collect();
        xris.into_iter()
            .filter_map(|xri| self.remove(&xri).map(|x| (xri, x)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::wq::Kind;
    use super::*;

    fn x(tag: u16) -> Exchange {
        Exchange {
            kind: Kind::Fcp,
            wq_id: 1,
            cq_id: 2,
            request_tag: tag,
            abort_tag: 0,
            d_id: 0x010200,
            rsp: Vec::new(),
            max_rsp: 0,
            deadline: None,
            held: None,
            target_abts: None,
            delayed: None,
        }
    }

    #[test]
    fn in_range_and_outside_xris_behave_as_one_map_in_xri_order() {
        let mut t = ExchangeTable::new(Range::new(0x80, 4));
        assert!(t.insert(0x81, x(1)).is_none());
        assert!(t.insert(0x10, x(2)).is_none(), "below the range");
        assert!(t.insert(0xFFFF, x(3)).is_none(), "above the range");
        assert!(t.insert(0x83, x(4)).is_none(), "last of the range");
        assert_eq!(t.insert(0x81, x(5)).unwrap().request_tag, 1);
        let order: Vec<(u16, u16)> = t.iter().map(|(k, x)| (k, x.request_tag)).collect();
        assert_eq!(order, [(0x10, 2), (0x81, 5), (0x83, 4), (0xFFFF, 3)]);
        assert!(t.contains_key(&0x83) && !t.contains_key(&0x82) && !t.contains_key(&0x84));
        t.get_mut(&0x10).unwrap().abort_tag = 9;
        assert_eq!(t.get(&0x10).unwrap().abort_tag, 9);
        t.retain(|x| x.request_tag != 4);
        assert!(t.get(&0x83).is_none());
        assert_eq!(t.remove(&0xFFFF).unwrap().request_tag, 3);
        assert!(t.remove(&0xFFFF).is_none());
        let all: Vec<u16> = t.take_all().into_iter().map(|(k, _)| k).collect();
        assert_eq!(all, [0x10, 0x81]);
        assert_eq!(t.values().count(), 0);
    }

    #[test]
    fn a_range_reaching_the_top_of_the_xri_space() {
        let mut t = ExchangeTable::new(Range::new(0xFFFE, 2));
        t.insert(0xFFFF, x(1));
        t.insert(0, x(2));
        let order: Vec<u16> = t.iter().map(|(k, _)| k).collect();
        assert_eq!(order, [0, 0xFFFF]);
    }
}
