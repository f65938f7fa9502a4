//! Connection IDs that name their shard, and the routing of datagrams by them.

use std::time::Duration;

use quinn_proto::{ConnectionId, ConnectionIdGenerator, InvalidCid};

/// Length of the connection IDs the edge issues: the shard's index, then 7 random bytes.
pub const CID_LEN: usize = 8;

/// Issues connection IDs that start with the shard's index (then 7 random bytes), so that any
/// shard can tell which one owns a packet.
#[derive(Debug)]
pub struct ShardCids {
    shard: u8,
    rng: ring::rand::SystemRandom,
}

impl ShardCids {
    pub fn new(shard: u8) -> ShardCids {
        ShardCids {
            shard,
            rng: ring::rand::SystemRandom::new(),
        }
    }
}

impl ConnectionIdGenerator for ShardCids {
    fn generate_cid(&mut self) -> ConnectionId {
        use ring::rand::SecureRandom;
        let mut b = [0u8; CID_LEN];
        if self.rng.fill(&mut b[1..]).is_err() {
            // The system RNG failing is not recoverable; a constant ID would be worse.
            tracing::error!("the system random generator failed");
            std::process::abort();
        }
        b[0] = self.shard;
        ConnectionId::new(&b)
    }

    fn validate(&self, cid: &ConnectionId) -> Result<(), InvalidCid> {
        if cid.len() == CID_LEN && cid[0] == self.shard {
            Ok(())
        } else {
            Err(InvalidCid)
        }
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// The shard that should handle a datagram, from its destination connection ID: the ID's first
/// byte, when the ID has the edge's length. `None` (handle here) for anything else: a client's
/// first packets carry an ID the client chose, and they reach one socket by their 4-tuple.
/// Pure, and total on any bytes.
pub fn owner_of(d: &[u8], nshards: usize) -> Option<usize> {
    let first = *d.first()?;
    let cid = if first & 0x80 != 0 {
        // Long header: flags, version (4), DCID length, DCID.
        let len = usize::from(*d.get(5)?);
        if len != CID_LEN {
            return None;
        }
        d.get(6..6 + CID_LEN)?
    } else {
        d.get(1..1 + CID_LEN)?
    };
    Some(usize::from(cid[0]) % nshards.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    fn short(cid0: u8) -> Vec<u8> {
        let mut d = vec![0x40, cid0];
        d.extend_from_slice(&[9; CID_LEN - 1]);
        d.extend_from_slice(&[0; 20]);
        d
    }

    fn long(dcid: &[u8]) -> Vec<u8> {
        let mut d = vec![0xc0, 0, 0, 0, 1, dcid.len() as u8];
        d.extend_from_slice(dcid);
        d.extend_from_slice(&[0; 20]);
        d
    }

    #[test]
    fn datagrams_go_to_the_shard_their_connection_id_names() {
        assert_eq!(owner_of(&short(1), 4), Some(1));
        assert_eq!(owner_of(&short(3), 4), Some(3));
        assert_eq!(owner_of(&long(&[2, 1, 1, 1, 1, 1, 1, 1]), 4), Some(2));
        // A client-chosen ID of another length: handled where it arrived.
        assert_eq!(owner_of(&long(&[2; 16]), 4), None);
        assert_eq!(owner_of(&long(&[2; CID_LEN - 1]), 4), None);
        assert_eq!(owner_of(&long(&[2; CID_LEN + 1]), 4), None);
        // Too short to hold an ID: here.
        assert_eq!(owner_of(&short(1)[..CID_LEN], 4), None);
        assert_eq!(owner_of(&short(1)[..CID_LEN + 1], 4), Some(1));
        assert_eq!(owner_of(&[], 4), None);
        assert_eq!(owner_of(&[0xc0, 0, 0], 4), None);
    }

    #[test]
    fn issued_ids_carry_the_shard_and_validate_only_there() {
        let mut g = ShardCids::new(3);
        let a = g.generate_cid();
        let b = g.generate_cid();
        assert_eq!((a.len(), a[0], b[0]), (CID_LEN, 3, 3));
        assert_ne!(a, b, "random after the shard byte");
        assert!(g.validate(&a).is_ok());
        assert!(ShardCids::new(2).validate(&a).is_err());
        assert_eq!(owner_of(&short(a[0]), 4), Some(3));
    }

    proptest! {
        #[test]
        fn routing_never_panics_and_stays_in_range(d in proptest::collection::vec(any::<u8>(), 0..64), n in 1usize..8) {
            if let Some(o) = owner_of(&d, n) {
                prop_assert!(o < n);
            }
        }
    }
}
