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
        let mut qdisc = TcMessage::with_index(from as i32);
        qdisc.header.handle = INGRESS_HANDLE;
        qdisc.header.parent = TcHandle::INGRESS;
        qdisc
            .attributes
            .push(TcAttribute::Kind("ingress".to_string()));
        self.request(RouteNetlinkMessage::NewQueueDiscipline(qdisc))?;

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
            TcOption::U32(TcFilterU32Option::Selector(selector)),
            TcOption::U32(TcFilterU32Option::Action(vec![mirred])),
        ]));
        self.request(RouteNetlinkMessage::NewTrafficFilter(filter))
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

/// `mirred egress redirect` to interface `to`; the frame is stolen.
fn mirror(to: u32) -> TcMirror {
    let mut m = TcMirror::default();
    m.generic.action = TcActionType::Stolen;
    m.eaction = TcMirrorActionType::EgressRedir;
    m.ifindex = to;
    m
}
