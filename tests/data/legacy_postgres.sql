-- A PostgreSQL database made by hookkit before it had migrations, as SQL text. It was
-- made once by driving the API of hookkit at commit af5badb (the code before migrations,
-- whose schema came from metadata.create_all and the NOTIFY function and triggers) with a
-- real receiver on 127.0.0.1: accounts acme (with a notification e-mail) and globex;
-- three keys, one revoked; a zapier hook with a mapping whose first delivery got a 500
-- and whose retry a 200; a test send; an unsubscribed (deleted) hook; an event with an
-- idempotency key; a globex event. The one-off generator script is not kept.
-- Dumped from its own schema S with `pg_dump --schema=S --no-owner --no-privileges
-- --inserts --no-comments` (PostgreSQL 15), then made schema-neutral (the `S.` prefixes,
-- CREATE SCHEMA, the SET and search_path lines and psql's \restrict lines removed) so a
-- test loads it into its own fresh schema in one execute(). Used by tests/test_migrations.py;
-- the fixture line names acme's live key, the live hook and its secret.
-- fixture: {"key": "hk_iG3c4iJo9FcZeJ-AmE6IrOq-vvPq_L4OAW5V8D8vJAw", "hook_id": "hook_01m8r26wjs7wc3vcxyqk4vcvpq", "secret": "whsec_2HHZirqYilL2hDP4KunIsKTnPex4MvOO"}

CREATE FUNCTION hookkit_notify_deliveries() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        PERFORM pg_notify('hookkit_deliveries', '');
        RETURN NULL;
    END $$;

CREATE TABLE accounts (
    id character varying(40) NOT NULL,
    name character varying(200) NOT NULL,
    notification_email character varying(320),
    created_at double precision NOT NULL
);

CREATE TABLE api_keys (
    id character varying(40) NOT NULL,
    account_id character varying(40) NOT NULL,
    key_hash character varying(64) NOT NULL,
    prefix character varying(16) NOT NULL,
    created_at double precision NOT NULL,
    revoked_at double precision
);

CREATE TABLE attempts (
    id integer NOT NULL,
    delivery_id character varying(40) NOT NULL,
    subscription_id character varying(40) NOT NULL,
    attempt integer NOT NULL,
    at double precision NOT NULL,
    duration_ms double precision NOT NULL,
    response_code integer,
    error text,
    response_body text,
    outcome character varying(16) NOT NULL
);

CREATE SEQUENCE attempts_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE attempts_id_seq OWNED BY attempts.id;

CREATE TABLE deliveries (
    id character varying(40) NOT NULL,
    account_id character varying(40) NOT NULL,
    subscription_id character varying(40) NOT NULL,
    event_id character varying(40) NOT NULL,
    status character varying(16) NOT NULL,
    attempts integer NOT NULL,
    next_attempt_at double precision NOT NULL,
    lease_owner character varying(40),
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    last_response_code integer,
    last_error text,
    is_test boolean NOT NULL
);

CREATE TABLE events (
    id character varying(40) NOT NULL,
    account_id character varying(40) NOT NULL,
    type character varying(200) NOT NULL,
    data json NOT NULL,
    idempotency_key character varying(200),
    created_at double precision NOT NULL,
    is_test boolean NOT NULL,
    delivery_count integer NOT NULL
);

CREATE TABLE subscription_events (
    subscription_id character varying(40) NOT NULL,
    event_type character varying(200) NOT NULL,
    account_id character varying(40) NOT NULL
);

CREATE TABLE subscriptions (
    id character varying(40) NOT NULL,
    account_id character varying(40) NOT NULL,
    events json NOT NULL,
    event_key text NOT NULL,
    target_url text NOT NULL,
    target_host character varying(300) NOT NULL,
    status character varying(16) NOT NULL,
    platform character varying(32) NOT NULL,
    description text NOT NULL,
    method character varying(8) NOT NULL,
    content_type character varying(8) NOT NULL,
    headers json NOT NULL,
    auth json,
    custom_values json NOT NULL,
    mapping text,
    filter text,
    filters json NOT NULL,
    log_response_body boolean NOT NULL,
    rate_limit double precision,
    secret character varying(100) NOT NULL,
    previous_secret character varying(100),
    previous_secret_expires_at double precision,
    expires_at double precision,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    deleted_at double precision,
    delivery_count integer NOT NULL,
    failure_count integer NOT NULL,
    failure_streak integer NOT NULL,
    last_delivery_at double precision,
    last_delivery json
);

ALTER TABLE ONLY attempts ALTER COLUMN id SET DEFAULT nextval('attempts_id_seq'::regclass);

INSERT INTO accounts VALUES ('acc_01m8r26wgmbfhgaw4g8d9d13d3', 'acme', 'ops@acme.example', 1796103959.060672);
INSERT INTO accounts VALUES ('acc_01m8r26wgxjrs5vgp38y6s4h9t', 'globex', NULL, 1796103959.0692513);

INSERT INTO api_keys VALUES ('key_01m8r26wh68c65rrxy0b6w1vs1', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', 'aaab9e4deaffa49f7771f961f8f857497c780d421a438200a2fc943e55c02162', 'hk_iG3c4iJ', 1796103959.0805702, NULL);
INSERT INTO api_keys VALUES ('key_01m8r26whcd6wfy20as0s7hf7r', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', '82e5ca0f6d8728326078895e48f505a11bfd631b65b5ef7124fc6cb4a4b16c36', 'hk_Q1BxMWJ', 1796103959.0859478, 1796103959.0926547);
INSERT INTO api_keys VALUES ('key_01m8r26whqf8bfmnxwaff1vbey', 'acc_01m8r26wgxjrs5vgp38y6s4h9t', '21b6666e213920caa303d7e60f904e437a253286f51e01f4b9893f5d70584c45', 'hk_GPCRmpI', 1796103959.0959358, NULL);

INSERT INTO attempts VALUES (1, 'msg_01m8r26wkr3shs1qm57z25patd', 'hook_01m8r26wjs7wc3vcxyqk4vcvpq', 1, 1796103959.1740682, 8.800446999998712, 500, 'HTTP 500 Internal Server Error', 'busy', 'retrying');
INSERT INTO attempts VALUES (2, 'msg_01m8r26wkr3shs1qm57z25patd', 'hook_01m8r26wjs7wc3vcxyqk4vcvpq', 2, 1796103959.3898985, 3.0474359999743683, 200, NULL, 'ok', 'delivered');
INSERT INTO attempts VALUES (3, 'msg_01m8r26wxe1k9en8j0ctm5r0nr', 'hook_01m8r26wjs7wc3vcxyqk4vcvpq', 1, 1796103959.4886346, 3.664928999910444, 200, NULL, 'ok', 'delivered');

INSERT INTO deliveries VALUES ('msg_01m8r26wkr3shs1qm57z25patd', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', 'hook_01m8r26wjs7wc3vcxyqk4vcvpq', 'evt_01m8r26wkjg5sst7331hchnbsd', 'delivered', 2, 1796103959.3898985, NULL, 1796103959.151543, 1796103959.3932278, 200, NULL, false);
INSERT INTO deliveries VALUES ('msg_01m8r26wxe1k9en8j0ctm5r0nr', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', 'hook_01m8r26wjs7wc3vcxyqk4vcvpq', 'evt_01m8r26wxddrpxvb9r27eyh7jg', 'delivered', 1, 1796103959.4886346, NULL, 1796103959.4696155, 1796103959.4932873, 200, NULL, true);

INSERT INTO events VALUES ('evt_01m8r26wkjg5sst7331hchnbsd', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', 'session', '{"event_id": 1, "session": {"id": "abc123xyz", "direct_url": "https://cdn.example.com/sessions/photo.jpg", "site_url": "https://photos.example.com/view/abc123xyz", "type": "still", "device": {"id": 42, "name": "iPad Pro - Main Booth", "device_info": "iOS 17.0"}, "still_template_id": 123, "gif_template_id": 456}}', 'legacy-1', 1796103959.151543, false, 1);
INSERT INTO events VALUES ('evt_01m8r26wxddrpxvb9r27eyh7jg', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', 'session', '{"event_id": 1, "session": {"id": "abc123xyz", "direct_url": "https://cdn.example.com/sessions/photo.jpg", "site_url": "https://photos.example.com/view/abc123xyz", "type": "still", "device": {"id": 42, "name": "iPad Pro - Main Booth", "device_info": "iOS 17.0"}, "still_template_id": 123, "gif_template_id": 456}}', NULL, 1796103959.4696155, true, 1);
INSERT INTO events VALUES ('evt_01m8r26x2zgx0pv5jswhng8p6n', 'acc_01m8r26wgxjrs5vgp38y6s4h9t', 'session', '{"event_id": 1, "session": {"id": "abc123xyz", "direct_url": "https://cdn.example.com/sessions/photo.jpg", "site_url": "https://photos.example.com/view/abc123xyz", "type": "still", "device": {"id": 42, "name": "iPad Pro - Main Booth", "device_info": "iOS 17.0"}, "still_template_id": 123, "gif_template_id": 456}}', NULL, 1796103959.646523, false, 0);

INSERT INTO subscription_events VALUES ('hook_01m8r26wjs7wc3vcxyqk4vcvpq', 'session', 'acc_01m8r26wgmbfhgaw4g8d9d13d3');

INSERT INTO subscriptions VALUES ('hook_01m8r26wjs7wc3vcxyqk4vcvpq', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', '["session"]', 'session', 'http://127.0.0.1:38127/legacy-hook', '127.0.0.1:38127', 'active', 'zapier', 'made before migrations', 'POST', 'json', '{}', 'null', '{"source": "legacy"}', '{id: id, session: data.session.id}', NULL, '{}', true, 30, 'whsec_2HHZirqYilL2hDP4KunIsKTnPex4MvOO', NULL, NULL, NULL, 1796103959.122188, 1796103959.122188, NULL, 3, 1, 0, 1796103959.4886346, '{"status": "delivered", "response_code": 200, "error": null, "at": "2026-12-01T05:45:59.488Z", "attempt": 1, "next_retry_at": null, "delivery_id": "msg_01m8r26wxe1k9en8j0ctm5r0nr"}');
INSERT INTO subscriptions VALUES ('hook_01m8r26x1y7kesbphwfbyy3ekg', 'acc_01m8r26wgmbfhgaw4g8d9d13d3', '["session", "share"]', 'session,share', 'http://127.0.0.1:9/gone', '127.0.0.1:9', 'deleted', 'custom', '', 'POST', 'json', '{}', 'null', '{}', NULL, NULL, '{}', false, NULL, 'whsec_/16JsQt6PLSXHxWHXdeKFZX1q9WH4n/n', NULL, NULL, NULL, 1796103959.6043322, 1796103959.6338131, 1796103959.6338131, 0, 0, 0, NULL, NULL);

SELECT pg_catalog.setval('attempts_id_seq', 3, true);

ALTER TABLE ONLY accounts
    ADD CONSTRAINT accounts_name_key UNIQUE (name);

ALTER TABLE ONLY accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY api_keys
    ADD CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash);

ALTER TABLE ONLY api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

ALTER TABLE ONLY attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY subscription_events
    ADD CONSTRAINT subscription_events_pkey PRIMARY KEY (subscription_id, event_type);

ALTER TABLE ONLY subscriptions
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY events
    ADD CONSTRAINT uq_events_idempotency UNIQUE (account_id, idempotency_key);

CREATE INDEX ix_attempts_delivery ON attempts USING btree (delivery_id, attempt);

CREATE INDEX ix_deliveries_due ON deliveries USING btree (status, next_attempt_at);

CREATE INDEX ix_deliveries_subscription ON deliveries USING btree (subscription_id, created_at);

CREATE INDEX ix_events_recent ON events USING btree (account_id, type, created_at);

CREATE INDEX ix_subscription_events_lookup ON subscription_events USING btree (account_id, event_type);

CREATE INDEX ix_subscriptions_account ON subscriptions USING btree (account_id, deleted_at, created_at);

CREATE UNIQUE INDEX uq_subscriptions_live_digest ON subscriptions USING btree (account_id, md5(event_key), md5(target_url)) WHERE (deleted_at IS NULL);

CREATE TRIGGER hookkit_deliveries_inserted AFTER INSERT ON deliveries FOR EACH STATEMENT EXECUTE FUNCTION hookkit_notify_deliveries();

CREATE TRIGGER hookkit_deliveries_requeued AFTER UPDATE OF status ON deliveries FOR EACH ROW WHEN ((((new.status)::text = 'pending'::text) AND ((old.status)::text <> 'pending'::text))) EXECUTE FUNCTION hookkit_notify_deliveries();

ALTER TABLE ONLY api_keys
    ADD CONSTRAINT api_keys_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(id);

ALTER TABLE ONLY attempts
    ADD CONSTRAINT attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries(id);

ALTER TABLE ONLY deliveries
    ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES events(id);

ALTER TABLE ONLY deliveries
    ADD CONSTRAINT deliveries_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES subscriptions(id);

ALTER TABLE ONLY events
    ADD CONSTRAINT events_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(id);

ALTER TABLE ONLY subscription_events
    ADD CONSTRAINT subscription_events_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES subscriptions(id);

ALTER TABLE ONLY subscriptions
    ADD CONSTRAINT subscriptions_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts(id);
