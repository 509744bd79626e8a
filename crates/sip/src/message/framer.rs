//! Cuts a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3).

/// Largest message the framer accepts; bigger means a broken or hostile peer.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Why the stream cannot be framed. After any of these the connection is out
/// of sync and must be closed; the framer returns `None` from then on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Content-Length is mandatory on streams (RFC 3261 §18.3, §20.14).
    #[error("message on a stream has no Content-Length")]
    MissingContentLength,
    /// Content-Length is not a plain decimal number, or appears twice.
    #[error("bad Content-Length {0:?} on a stream")]
    BadContentLength(String),
    /// Headers or headers plus body exceed [`MAX_MESSAGE_SIZE`].
    #[error("message larger than {max} bytes on a stream")]
    TooLarge {
        /// The limit in force.
        max: usize,
    },
}

/// Accumulates stream bytes and yields whole messages.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max: usize,
    pings: usize,
    pongs: usize,
    broken: bool,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamFramer {
    /// A framer with the default [`MAX_MESSAGE_SIZE`] limit.
    pub fn new() -> Self {
        Self::with_limit(MAX_MESSAGE_SIZE)
    }

    /// A framer with a custom message size limit.
    pub fn with_limit(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max,
            pings: 0,
            pongs: 0,
            broken: false,
        }
    }

    /// Appends bytes read from the connection. Ignored once broken.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// True after a framing error: the connection must be closed.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Number of RFC 5626 keep-alive pings (`CRLFCRLF`) seen since the last
    /// call; the caller answers each with a `CRLF` pong.
    pub fn take_pings(&mut self) -> usize {
        std::mem::take(&mut self.pings)
    }

    /// Number of RFC 5626 pongs (lone `CRLF`) seen since the last call.
    pub fn take_pongs(&mut self) -> usize {
        std::mem::take(&mut self.pongs)
    }

    /// The next complete message, `None` if more bytes are needed, or the
    /// error that broke the stream.
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, FramingError>> {
        if self.broken {
            return None;
        }
        if !self.skip_keepalives() {
            return None;
        }
        match self.frame_len() {
            Ok(Some(len)) => Some(Ok(self.buf.drain(..len).collect())),
            Ok(None) => None,
            Err(e) => {
                self.broken = true;
                self.buf = Vec::new();
                Some(Err(e))
            }
        }
    }

    /// Consumes leading keep-alives; false when the buffer is empty or holds
    /// only a possible start of a ping.
    fn skip_keepalives(&mut self) -> bool {
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.drain(..4);
                self.pings += 1;
            } else if self.buf.is_empty() || b"\r\n\r".starts_with(&self.buf) {
                return false;
            } else if self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
                self.pongs += 1;
            } else {
                return true;
            }
        }
    }

    /// Length of the first message once fully buffered.
    fn frame_len(&self) -> Result<Option<usize>, FramingError> {
        let too_large = FramingError::TooLarge { max: self.max };
        let Some(head) = find(&self.buf, b"\r\n\r\n") else {
            return if self.buf.len() > self.max {
                Err(too_large)
            } else {
                Ok(None)
            };
        };
        let cl = content_length(&self.buf[..head])?;
        let total = head
            .checked_add(4)
            .and_then(|n| n.checked_add(cl))
            .ok_or(FramingError::TooLarge { max: self.max })?;
        if total > self.max {
            return Err(too_large);
        }
        Ok((self.buf.len() >= total).then_some(total))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Content-Length from a header block (long or compact name).
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]);
        let name = name.trim_end();
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("l") {
            continue;
        }
        let value = String::from_utf8_lossy(&line[colon + 1..])
            .trim()
            .to_string();
        let bad = || FramingError::BadContentLength(value.clone());
        if found.is_some() || value.is_empty() || !value.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        found = Some(value.parse().map_err(|_| bad())?);
    }
    found.ok_or(FramingError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nabcd";

    #[test]
    fn frames_split_and_joined_messages() {
        let mut f = StreamFramer::new();
        f.push(&MSG[..10]);
        assert_eq!(f.next_message(), None);
        f.push(&MSG[10..]);
        f.push(MSG);
        assert_eq!(f.next_message(), Some(Ok(MSG.to_vec())));
        assert_eq!(f.next_message(), Some(Ok(MSG.to_vec())));
        assert_eq!(f.next_message(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn keepalives_are_counted_not_returned() {
        let mut f = StreamFramer::new();
        f.push(b"\r\n");
        assert_eq!(f.next_message(), None);
        f.push(b"\r\n\r\n");
        assert_eq!(f.next_message(), None);
        assert_eq!(f.take_pings(), 1);
        f.push(MSG);
        assert_eq!(f.next_message(), Some(Ok(MSG.to_vec())));
        assert_eq!(f.take_pongs(), 1);
        assert_eq!(f.take_pings(), 0);
    }

    #[test]
    fn missing_or_bad_content_length_breaks_the_stream() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(
            f.next_message(),
            Some(Err(FramingError::MissingContentLength))
        );
        assert!(f.is_broken());
        f.push(MSG);
        assert_eq!(f.next_message(), None);
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert!(matches!(
            f.next_message(),
            Some(Err(FramingError::BadContentLength(_)))
        ));
    }

    #[test]
    fn growth_is_bounded() {
        let mut f = StreamFramer::with_limit(100);
        f.push(&[b'A'; 101]);
        assert_eq!(
            f.next_message(),
            Some(Err(FramingError::TooLarge { max: 100 }))
        );
        let mut f = StreamFramer::with_limit(100);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n");
        assert!(f.next_message().unwrap().is_err());
    }
}
