//! CRI's `Signal` enum (a container's `stop_signal`) and rukt's signal
//! names ([`rukt_contract::signal`]): the enum numbers its values in its
//! own order and spells the real-time ones `SIGRTMINPLUS3` and
//! `SIGRTMAXMINUS2`.

use rukt_contract::signal::{SIGRTMAX, SIGRTMIN};
use rukt_proto::cri::v1 as cri;
use tonic::Status;

use crate::error::invalid;

/// The stop signal a `ContainerConfig` asks for, by rukt's name; `None`
/// for `RUNTIME_DEFAULT` (the image's, else SIGTERM).
pub fn from_cri(value: i32) -> Result<Option<String>, Status> {
    let signal = cri::Signal::try_from(value)
        .map_err(|_| invalid(format!("unknown stop_signal {value}")))?;
    if signal == cri::Signal::RuntimeDefault {
        return Ok(None);
    }
    let name = signal
        .as_str_name()
        .replace("PLUS", "+")
        .replace("MINUS", "-");
    rukt_contract::signal::parse(&name)
        .map(Some)
        .map_err(|e| invalid(format!("stop_signal: {e}")))
}

/// CRI's value for the signal rukt calls `name` (`RUNTIME_DEFAULT` for
/// none or one CRI cannot name).
pub fn to_cri(name: Option<&str>) -> i32 {
    let Some(n) = name.and_then(rukt_contract::signal::number) else {
        return cri::Signal::RuntimeDefault as i32;
    };
    let cri_name = match n {
        SIGRTMIN => "SIGRTMIN".to_string(),
        SIGRTMAX => "SIGRTMAX".to_string(),
        n if n > SIGRTMIN && n < SIGRTMIN + 16 => format!("SIGRTMINPLUS{}", n - SIGRTMIN),
        n if n > SIGRTMIN => format!("SIGRTMAXMINUS{}", SIGRTMAX - n),
        _ => rukt_contract::signal::name(n).unwrap_or_default(),
    };
    cri::Signal::from_str_name(&cri_name).map_or(cri::Signal::RuntimeDefault as i32, |s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cri_signal_maps_there_and_back() {
        assert_eq!(from_cri(cri::Signal::RuntimeDefault as i32).unwrap(), None);
        for value in 1..=65 {
            let name = from_cri(value).unwrap().expect("a signal");
            let back = to_cri(Some(&name));
            let aliased = [
                cri::Signal::Sigcld,
                cri::Signal::Sigiot,
                cri::Signal::Sigpoll,
            ]
            .map(|s| s as i32)
            .contains(&value);
            if !aliased {
                assert_eq!(back, value, "{name}");
            }
        }
        assert_eq!(
            from_cri(cri::Signal::Sigquit as i32).unwrap().as_deref(),
            Some("SIGQUIT")
        );
        assert_eq!(
            from_cri(cri::Signal::Sigrtminplus3 as i32)
                .unwrap()
                .as_deref(),
            Some("SIGRTMIN+3")
        );
        assert_eq!(
            from_cri(cri::Signal::Sigrtmaxminus2 as i32)
                .unwrap()
                .as_deref(),
            Some("SIGRTMIN+28")
        );
        assert_eq!(to_cri(None), 0);
        assert!(from_cri(99).is_err());
    }
}
