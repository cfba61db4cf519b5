//! The tc redirect between a pod link and its tap, over rtnetlink (no
//! `tc` binary): an `ingress` qdisc on each, and on each a `u32` filter
//! matching every frame (`match u8 0 0`: these kernels have no `matchall`
//! or `flower`) whose action is `mirred egress redirect` to the other;
//! what `tc filter add dev A parent ffff: protocol all u32 match u8 0 0
//! action mirred egress redirect dev B` sends. In the calling thread's
//! network namespace.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirrorOption, TcActionOption, TcActionType, TcAttribute,
    TcFilterU32Option, TcHandle, TcMessage, TcMirror, TcMirrorActionType, TcOption, TcU32Key,
    TcU32Selector, TcU32SelectorFlags,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// `ETH_P_ALL`, in network byte order as `tcm_info`'s low half wants it.
const ETH_P_ALL_BE: u32 = (libc::ETH_P_ALL as u16).to_be() as u32;

/// The ingress qdisc's handle, `ffff:`.
const INGRESS_HANDLE: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0,
};

/// A route netlink socket with its sequence numbers.
pub struct Tc {
    socket: Socket,
    seq: u32,
}

impl Tc {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Tc> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Tc { socket, seq: 0 })
    }

    /// Redirects every frame arriving on interface `from` to `to`'s egress.
    pub fn redirect(&mut self, from: u32, to: u32) -> io::Result<()> {
        self.request(RouteNetlinkMessage::NewQueueDiscipline(ingress_qdisc(from)))?;
        self.request(RouteNetlinkMessage::NewTrafficFilter(redirect_filter(
            from, to,
        )))
    }

    /// Sends `msg` as a create request and waits for its acknowledgement.
    fn request(&mut self, msg: RouteNetlinkMessage) -> io::Result<()> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        loop {
            let mut reply = Vec::with_capacity(8192);
            let n = self.socket.recv(&mut reply, 0)?;
            let mut offset = 0;
            while offset < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[offset..n])
                    .map_err(|e| io::Error::other(format!("bad netlink reply: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq
                    && let NetlinkPayload::Error(e) = msg.payload
                {
                    return match e.code {
                        None => Ok(()),
                        Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                    };
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }
}

/// `tc qdisc add dev DEV ingress`.
fn ingress_qdisc(dev: u32) -> TcMessage {
    let mut qdisc = TcMessage::with_index(dev as i32);
    qdisc.header.handle = INGRESS_HANDLE;
    qdisc.header.parent = TcHandle::INGRESS;
    qdisc
        .attributes
        .push(TcAttribute::Kind("ingress".to_string()));
    qdisc
}

/// The filter on `from`'s ingress whose action redirects to `to`, its
/// attributes in tc's order.
fn redirect_filter(from: u32, to: u32) -> TcMessage {
    let mut mirred = TcAction::default();
    mirred.tab = 1;
    mirred.attributes = vec![
        TcActionAttribute::Kind("mirred".to_string()),
        TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
            mirror(to),
        ))]),
    ];
    let mut selector = TcU32Selector::default();
    selector.flags = TcU32SelectorFlags::Terminal;
    selector.nkeys = 1;
    selector.keys = vec![TcU32Key::default()];
    let mut filter = TcMessage::with_index(from as i32);
    filter.header.parent = INGRESS_HANDLE;
    filter.header.info = ETH_P_ALL_BE;
    filter.attributes.push(TcAttribute::Kind("u32".to_string()));
    filter.attributes.push(TcAttribute::Options(vec![
        TcOption::U32(TcFilterU32Option::Action(vec![mirred])),
        TcOption::U32(TcFilterU32Option::Selector(selector)),
    ]));
    filter
}

/// `mirred egress redirect` to interface `to`; the frame is stolen.
fn mirror(to: u32) -> TcMirror {
    let mut m = TcMirror::default();
    m.generic.action = TcActionType::Stolen;
    m.eaction = TcMirrorActionType::EgressRedir;
    m.ifindex = to;
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn emitted(msg: &TcMessage) -> Vec<u8> {
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    fn tcmsg(ifindex: i32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
        let mut v = vec![0u8; 4];
        for field in [ifindex as u32, handle, parent, info] {
            v.extend(field.to_ne_bytes());
        }
        v
    }

    /// The bytes `tc filter add dev va parent ffff: protocol all u32 match u8 0 0 action
    /// mirred egress redirect dev vb` sent (iproute2 6.1, strace), `va` being 3 and `vb` 2.
    #[test]
    fn the_filter_is_what_tc_sends() {
        let mut want = tcmsg(3, 0, 0xffff_0000, 0x300);
        want.extend(b"\x08\x00\x01\x00u32\x00");
        want.extend(b"\x60\x00\x02\x00");
        want.extend(b"\x38\x00\x07\x00\x34\x00\x01\x00\x0b\x00\x01\x00mirred\x00\x00");
        want.extend(b"\x24\x00\x02\x80\x20\x00\x02\x00");
        want.extend([0u8; 8]);
        want.extend(b"\x04\x00\x00\x00");
        want.extend([0u8; 8]);
        want.extend(b"\x01\x00\x00\x00\x02\x00\x00\x00");
        want.extend(b"\x24\x00\x05\x00\x01\x00\x01\x00");
        want.extend([0u8; 28]);
        assert_eq!(emitted(&redirect_filter(3, 2)), want);
    }

    #[test]
    fn the_qdisc_is_ingress() {
        let mut want = tcmsg(3, 0xffff_0000, 0xffff_fff1, 0);
        want.extend(b"\x0c\x00\x01\x00ingress\x00");
        assert_eq!(emitted(&ingress_qdisc(3)), want);
    }
}
