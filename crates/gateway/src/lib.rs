//! The inference API: the request path from accept to meter, as one module per stage.
