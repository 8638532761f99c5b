//! IP prefix truncation: keep the network, forget the host.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `address` with every bit after its first `ipv4_prefix` (or `ipv6_prefix`
/// for IPv6) bits zeroed: `192.0.2.77` with 24 gives `192.0.2.0`. Prefixes
/// longer than the address keep it whole.
pub fn truncate_ip(address: IpAddr, ipv4_prefix: u8, ipv6_prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(ipv4_prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(ipv6_prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truncated(address: &str, v4: u8, v6: u8) -> String {
        truncate_ip(address.parse().unwrap(), v4, v6).to_string()
    }

    #[test]
    fn keeps_the_prefix_bits() {
        assert_eq!(truncated("192.0.2.77", 24, 48), "192.0.2.0");
        assert_eq!(truncated("192.0.2.77", 16, 48), "192.0.0.0");
        assert_eq!(truncated("192.0.2.77", 0, 48), "0.0.0.0");
        assert_eq!(truncated("192.0.2.77", 32, 48), "192.0.2.77");
        assert_eq!(truncated("2001:db8:1:2:3:4:5:6", 24, 48), "2001:db8:1::");
        assert_eq!(truncated("2001:db8:1:2:3:4:5:6", 24, 0), "::");
        assert_eq!(truncated("::1", 24, 128), "::1");
    }
}
