//! The little of HTTP/1.1 the loopback servers of the tests need: reading
//! a request's head and body from a kept-alive connection.
use std::{
    collections::BTreeMap,
    io::{self, BufRead},
};

/// A request as a server on loopback sees it.
pub(crate) struct Request {
    /// `GET /path?query HTTP/1.1`, without the line end.
    pub line: String,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The request's target: `/path?query`.
    pub fn target(&self) -> &str {
        self.line.split_whitespace().nth(1).unwrap_or_default()
    }
}

/// The next request on the connection, or `None` when the client closed it.
pub(crate) fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|length| length.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        line: line.trim_end().to_owned(),
        headers,
        body,
    }))
}
