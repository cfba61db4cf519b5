//! Verifying a log: each record on its own (its string agrees with its
//! fields, its digests are the string's hashes, recnums consecutive from
//! the log-start record), then a replay per bank from the PCR value the log
//! began at, compared with the value read from the TPM. Equal: OK. Equal
//! only without the last records: PENDING (appended, never extended: a
//! writer died in between). Anything else: MISMATCH.

use crate::alg::{HashAlg, hex, unhex};
use crate::record::{EventKind, Record};

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The log replays to the PCR.
    Ok,
    /// It does once this many trailing records are left out.
    Pending(usize),
    /// It does not, or a record is wrong on its own.
    Mismatch,
}

/// One bank's replay.
#[derive(Debug, Clone)]
pub struct BankReplay {
    /// The bank.
    pub alg: HashAlg,
    /// The value the log began at.
    pub start: Vec<u8>,
    /// The value the whole log replays to.
    pub replayed: Vec<u8>,
    /// The value read from the TPM.
    pub actual: Vec<u8>,
}

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The PCR.
    pub pcr: u32,
    /// Records in the log.
    pub records: usize,
    /// What is wrong with single records or their sequence.
    pub problems: Vec<String>,
    /// Per bank.
    pub banks: Vec<BankReplay>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Verifies `records` (one log, in file order) against `actual`, the
/// values of `pcr` per active bank.
pub fn verify(records: &[Record], pcr: u32, actual: &[(HashAlg, Vec<u8>)]) -> Report {
    let mut problems = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.recnum != i as u64 {
            problems.push(format!(
                "record at position {i} has recnum {} (records were removed, inserted or reordered)",
                r.recnum
            ));
        }
        if r.pcr != pcr {
            problems.push(format!(
                "record {} is for PCR {}, not {pcr}",
                r.recnum, r.pcr
            ));
        }
        for p in r.problems() {
            problems.push(format!("record {}: {p}", r.recnum));
        }
        for (alg, _) in actual {
            if !r.digests.iter().any(|d| d.hash_alg == alg.name()) {
                problems.push(format!("record {} has no {alg} digest", r.recnum));
            }
        }
    }
    let start = records
        .first()
        .filter(|r| r.content.event == EventKind::LogStart);
    if start.is_none() {
        problems.push("the log does not begin with a log-start record".to_string());
    }
    // prefix[k][bank]: the value after the first k records.
    let mut banks = Vec::new();
    let mut matches_at: Vec<Option<usize>> = Vec::new();
    for (alg, value) in actual {
        let begin = start
            .and_then(|s| s.content.fields.pcr_start.get(alg.name()))
            .and_then(|h| unhex(h))
            .filter(|b| b.len() == alg.digest_len());
        let Some(begin) = begin else {
            if start.is_some() {
                problems.push(format!("the log-start record has no {alg} value"));
            }
            matches_at.push(None);
            continue;
        };
        let mut v = begin.clone();
        let mut at = (v == *value).then_some(0);
        for (k, r) in records.iter().enumerate() {
            if let Some((_, d)) = r.bank_digests().into_iter().find(|(a, _)| a == alg) {
                v = alg.extend(&v, &d);
            }
            if v == *value {
                at = Some(k + 1);
            }
        }
        banks.push(BankReplay {
            alg: *alg,
            start: begin,
            replayed: v,
            actual: value.clone(),
        });
        matches_at.push(at);
    }
    let n = records.len();
    let verdict = if !problems.is_empty() || actual.is_empty() {
        Verdict::Mismatch
    } else {
        match matches_at.first().copied().flatten() {
            Some(k) if matches_at.iter().all(|m| *m == Some(k)) && k == n => Verdict::Ok,
            Some(k) if matches_at.iter().all(|m| *m == Some(k)) && k >= 1 => {
                Verdict::Pending(n - k)
            }
            _ => Verdict::Mismatch,
        }
    };
    Report {
        pcr,
        records: n,
        problems,
        banks,
        verdict,
    }
}

impl BankReplay {
    /// Whether the replay equals the TPM's value.
    pub fn matches(&self) -> bool {
        self.replayed == self.actual
    }

    /// The replayed value, hex.
    pub fn replayed_hex(&self) -> String {
        hex(&self.replayed)
    }

    /// The TPM's value, hex.
    pub fn actual_hex(&self) -> String {
        hex(&self.actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Content, Fields};

    const BANKS: [HashAlg; 2] = [HashAlg::Sha1, HashAlg::Sha256];

    fn log(n: u64) -> (Vec<Record>, Vec<(HashAlg, Vec<u8>)>) {
        let mut recs = Vec::new();
        let start = Fields {
            pcr_start: BANKS
                .iter()
                .map(|a| (a.name().to_string(), hex(&vec![0; a.digest_len()])))
                .collect(),
            ..Fields::default()
        };
        let c = Content::new(EventKind::LogStart, "b".into(), 0, start);
        recs.push(Record::new(0, 15, &BANKS, c));
        for i in 1..n {
            let f = Fields {
                pod: Some(format!("pod-{i}")),
                ..Fields::default()
            };
            let c = Content::new(EventKind::PodPrepared, "b".into(), i, f);
            recs.push(Record::new(i, 15, &BANKS, c));
        }
        let pcr = BANKS
            .iter()
            .map(|a| {
                let mut v = vec![0; a.digest_len()];
                for r in &recs {
                    v = a.extend(&v, &a.hash(&[r.content.string.as_bytes()]));
                }
                (*a, v)
            })
            .collect();
        (recs, pcr)
    }

    #[test]
    fn ok_pending_and_mismatch() {
        let (recs, pcr) = log(4);
        assert_eq!(verify(&recs, 15, &pcr).verdict, Verdict::Ok);
        // A record appended and never extended.
        let (more, _) = log(5);
        assert_eq!(verify(&more, 15, &pcr).verdict, Verdict::Pending(1));
        // Deleted, reordered, edited.
        let mut deleted = recs.clone();
        deleted.remove(2);
        assert_eq!(verify(&deleted, 15, &pcr).verdict, Verdict::Mismatch);
        let mut swapped = recs.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&swapped, 15, &pcr).verdict, Verdict::Mismatch);
        let mut edited = recs.clone();
        edited[3].content.fields.pod = Some("other".into());
        assert_eq!(verify(&edited, 15, &pcr).verdict, Verdict::Mismatch);
        // An extend the log does not record.
        let mut bypassed = pcr.clone();
        bypassed[1].1 = HashAlg::Sha256.extend(&bypassed[1].1, &[7; 32]);
        let r = verify(&recs, 15, &bypassed);
        assert_eq!(r.verdict, Verdict::Mismatch);
        assert!(r.banks[0].matches() && !r.banks[1].matches());
    }
}
