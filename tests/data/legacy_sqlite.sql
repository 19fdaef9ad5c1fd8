-- A SQLite database made by hookkit before it had migrations, as SQL text. It was made
-- once by driving the API of hookkit at commit af5badb (the code before migrations, whose
-- schema came from metadata.create_all) with a real receiver on 127.0.0.1: accounts acme
-- (with a notification e-mail) and globex; three keys, one revoked; a zapier hook with a
-- mapping whose first delivery got a 500 and whose retry a 200; a test send; an
-- unsubscribed (deleted) hook; an event with an idempotency key; a globex event. The
-- one-off generator script is not kept.
-- Dumped with Python's sqlite3 Connection.iterdump(); load it with executescript()
-- (foreign keys off: the dump lists tables alphabetically). Used by tests/test_migrations.py;
-- the fixture line names acme's live key, the live hook and its secret.
-- fixture: {"key": "hk_QuMgVUf_b9BHseBfvOPiwtFBq4GuYx-gts3PFNAOWm0", "hook_id": "hook_01m8r26mwvv0v31r421mccc1gf", "secret": "whsec_KdOiXS4avLqFbuH2X0ORlboayfZYlJZF"}
BEGIN TRANSACTION;
CREATE TABLE accounts (
	id VARCHAR(40) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	notification_email VARCHAR(320), 
	created_at DOUBLE NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
INSERT INTO "accounts" VALUES('acc_01m8r26mw8syna2qq6rkg2gcnt','acme','ops@acme.example',1.79610395124067234989e+09);
INSERT INTO "accounts" VALUES('acc_01m8r26mw9qqwkkxp0wq07nmds','globex',NULL,1.79610395124175930021e+09);
CREATE TABLE api_keys (
	id VARCHAR(40) NOT NULL, 
	account_id VARCHAR(40) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	prefix VARCHAR(16) NOT NULL, 
	created_at DOUBLE NOT NULL, 
	revoked_at DOUBLE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id), 
	UNIQUE (key_hash)
);
INSERT INTO "api_keys" VALUES('key_01m8r26mwadvrghzqwp73sjfa4','acc_01m8r26mw8syna2qq6rkg2gcnt','8ee56aa95cf571a039dcf67748782abd910f30aad77ab756d850ad711ea5de6f','hk_QuMgVUf',1.7961039512421467304e+09,NULL);
INSERT INTO "api_keys" VALUES('key_01m8r26mwaf4kj6291s4hv93kc','acc_01m8r26mw8syna2qq6rkg2gcnt','c8e6daa2da13034f84b3bd0b4a73493b0e3574c918ab47c0a11392e30bc96bba','hk_6K3Aeur',1.79610395124289512632e+09,1.79610395124340128901e+09);
INSERT INTO "api_keys" VALUES('key_01m8r26mwbcnjej5phvkh3fr1t','acc_01m8r26mw9qqwkkxp0wq07nmds','24c20943b4047e0192e64ccf6972b980ce9d2f07e29a71085c2e4527b0d6a52b','hk_ne7bkcZ',1.79610395124417710301e+09,NULL);
CREATE TABLE attempts (
	id INTEGER NOT NULL, 
	delivery_id VARCHAR(40) NOT NULL, 
	subscription_id VARCHAR(40) NOT NULL, 
	attempt INTEGER NOT NULL, 
	at DOUBLE NOT NULL, 
	duration_ms DOUBLE NOT NULL, 
	response_code INTEGER, 
	error TEXT, 
	response_body TEXT, 
	outcome VARCHAR(16) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(delivery_id) REFERENCES deliveries (id)
);
INSERT INTO "attempts" VALUES(1,'msg_01m8r26mx430fq1bbftwc6va58','hook_01m8r26mwvv0v31r421mccc1gf',1,1.79610395127536964419e+09,3.27689700009159423643e+00,500,'HTTP 500 Internal Server Error','busy','retrying');
INSERT INTO "attempts" VALUES(2,'msg_01m8r26mx430fq1bbftwc6va58','hook_01m8r26mwvv0v31r421mccc1gf',2,1.79610395148263311381e+09,2.09196200000860699219e+00,200,NULL,'ok','delivered');
INSERT INTO "attempts" VALUES(3,'msg_01m8r26n6h8wjaa6rg8gq7fefq','hook_01m8r26mwvv0v31r421mccc1gf',1,1.79610395157619953153e+09,3.53268100002424034755e+00,200,NULL,'ok','delivered');
CREATE TABLE deliveries (
	id VARCHAR(40) NOT NULL, 
	account_id VARCHAR(40) NOT NULL, 
	subscription_id VARCHAR(40) NOT NULL, 
	event_id VARCHAR(40) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DOUBLE NOT NULL, 
	lease_owner VARCHAR(40), 
	created_at DOUBLE NOT NULL, 
	updated_at DOUBLE NOT NULL, 
	last_response_code INTEGER, 
	last_error TEXT, 
	is_test BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(subscription_id) REFERENCES subscriptions (id), 
	FOREIGN KEY(event_id) REFERENCES events (id)
);
INSERT INTO "deliveries" VALUES('msg_01m8r26mx430fq1bbftwc6va58','acc_01m8r26mw8syna2qq6rkg2gcnt','hook_01m8r26mwvv0v31r421mccc1gf','evt_01m8r26mx3d13yt2seh7yh5pjx','delivered',2,1.79610395148263311381e+09,NULL,1.79610395126556038856e+09,1.79610395149218773835e+09,200,NULL,0);
INSERT INTO "deliveries" VALUES('msg_01m8r26n6h8wjaa6rg8gq7fefq','acc_01m8r26mw8syna2qq6rkg2gcnt','hook_01m8r26mwvv0v31r421mccc1gf','evt_01m8r26n6h0x8nbbgn9wcrjsqg','delivered',1,1.79610395157619953153e+09,NULL,1.79610395156914281851e+09,1.79610395158239078521e+09,200,NULL,1);
CREATE TABLE events (
	id VARCHAR(40) NOT NULL, 
	account_id VARCHAR(40) NOT NULL, 
	type VARCHAR(200) NOT NULL, 
	data JSON NOT NULL, 
	idempotency_key VARCHAR(200), 
	created_at DOUBLE NOT NULL, 
	is_test BOOLEAN NOT NULL, 
	delivery_count INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_events_idempotency UNIQUE (account_id, idempotency_key), 
	FOREIGN KEY(account_id) REFERENCES accounts (id)
);
INSERT INTO "events" VALUES('evt_01m8r26mx3d13yt2seh7yh5pjx','acc_01m8r26mw8syna2qq6rkg2gcnt','session','{"event_id": 1, "session": {"id": "abc123xyz", "direct_url": "https://cdn.example.com/sessions/photo.jpg", "site_url": "https://photos.example.com/view/abc123xyz", "type": "still", "device": {"id": 42, "name": "iPad Pro - Main Booth", "device_info": "iOS 17.0"}, "still_template_id": 123, "gif_template_id": 456}}','legacy-1',1.79610395126556038856e+09,0,1);
INSERT INTO "events" VALUES('evt_01m8r26n6h0x8nbbgn9wcrjsqg','acc_01m8r26mw8syna2qq6rkg2gcnt','session','{"event_id": 1, "session": {"id": "abc123xyz", "direct_url": "https://cdn.example.com/sessions/photo.jpg", "site_url": "https://photos.example.com/view/abc123xyz", "type": "still", "device": {"id": 42, "name": "iPad Pro - Main Booth", "device_info": "iOS 17.0"}, "still_template_id": 123, "gif_template_id": 456}}',NULL,1.79610395156914281851e+09,1,1);
INSERT INTO "events" VALUES('evt_01m8r26n960d7vg4df6kqyrffs','acc_01m8r26mw9qqwkkxp0wq07nmds','session','{"event_id": 1, "session": {"id": "abc123xyz", "direct_url": "https://cdn.example.com/sessions/photo.jpg", "site_url": "https://photos.example.com/view/abc123xyz", "type": "still", "device": {"id": 42, "name": "iPad Pro - Main Booth", "device_info": "iOS 17.0"}, "still_template_id": 123, "gif_template_id": 456}}',NULL,1.79610395165451478959e+09,0,0);
CREATE TABLE subscription_events (
	subscription_id VARCHAR(40) NOT NULL, 
	event_type VARCHAR(200) NOT NULL, 
	account_id VARCHAR(40) NOT NULL, 
	PRIMARY KEY (subscription_id, event_type), 
	FOREIGN KEY(subscription_id) REFERENCES subscriptions (id)
);
INSERT INTO "subscription_events" VALUES('hook_01m8r26mwvv0v31r421mccc1gf','session','acc_01m8r26mw8syna2qq6rkg2gcnt');
CREATE TABLE subscriptions (
	id VARCHAR(40) NOT NULL, 
	account_id VARCHAR(40) NOT NULL, 
	events JSON NOT NULL, 
	event_key TEXT NOT NULL, 
	target_url TEXT NOT NULL, 
	target_host VARCHAR(300) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	platform VARCHAR(32) NOT NULL, 
	description TEXT NOT NULL, 
	method VARCHAR(8) NOT NULL, 
	content_type VARCHAR(8) NOT NULL, 
	headers JSON NOT NULL, 
	auth JSON, 
	custom_values JSON NOT NULL, 
	mapping TEXT, 
	filter TEXT, 
	filters JSON NOT NULL, 
	log_response_body BOOLEAN NOT NULL, 
	rate_limit DOUBLE, 
	secret VARCHAR(100) NOT NULL, 
	previous_secret VARCHAR(100), 
	previous_secret_expires_at DOUBLE, 
	expires_at DOUBLE, 
	created_at DOUBLE NOT NULL, 
	updated_at DOUBLE NOT NULL, 
	deleted_at DOUBLE, 
	delivery_count INTEGER NOT NULL, 
	failure_count INTEGER NOT NULL, 
	failure_streak INTEGER NOT NULL, 
	last_delivery_at DOUBLE, 
	last_delivery JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id)
);
INSERT INTO "subscriptions" VALUES('hook_01m8r26mwvv0v31r421mccc1gf','acc_01m8r26mw8syna2qq6rkg2gcnt','["session"]','session','http://127.0.0.1:45457/legacy-hook','127.0.0.1:45457','active','zapier','made before migrations','POST','json','{}','null','{"source": "legacy"}','{id: id, session: data.session.id}',NULL,'{}',1,30.0,'whsec_KdOiXS4avLqFbuH2X0ORlboayfZYlJZF',NULL,NULL,NULL,1.7961039512556726933e+09,1.7961039512556726933e+09,NULL,3,1,0,1.79610395157619953153e+09,'{"status": "delivered", "response_code": 200, "error": null, "at": "2026-12-01T05:45:51.576Z", "attempt": 1, "next_retry_at": null, "delivery_id": "msg_01m8r26n6h8wjaa6rg8gq7fefq"}');
INSERT INTO "subscriptions" VALUES('hook_01m8r26n8gkmw943qc8z5kvbad','acc_01m8r26mw8syna2qq6rkg2gcnt','["session", "share"]','session,share','http://127.0.0.1:9/gone','127.0.0.1:9','deleted','custom','','POST','json','{}','null','{}',NULL,NULL,'{}',0,NULL,'whsec_hbFUpi35d5jr55fEWKg5XXmnc54ykhaS',NULL,NULL,NULL,1.79610395163165879254e+09,1.79610395164545226095e+09,1.79610395164545226095e+09,0,0,0,NULL,NULL);
CREATE INDEX ix_subscriptions_account ON subscriptions (account_id, deleted_at, created_at);
CREATE UNIQUE INDEX uq_subscriptions_live ON subscriptions (account_id, event_key, target_url) WHERE deleted_at IS NULL;
CREATE INDEX ix_events_recent ON events (account_id, type, created_at);
CREATE INDEX ix_subscription_events_lookup ON subscription_events (account_id, event_type);
CREATE INDEX ix_deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX ix_deliveries_subscription ON deliveries (subscription_id, created_at);
CREATE INDEX ix_attempts_delivery ON attempts (delivery_id, attempt);
COMMIT;
