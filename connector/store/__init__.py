"""Storage: the schema (`tables`) and its migrations (`migrate`), the connection
(`database.Store`), ids, and the queue signal. The lowest layer with the catalog and the
wire format: it imports no other part of hookkit but `clock`, `config` and `errors`."""
