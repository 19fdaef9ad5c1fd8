"""Events: publishing (validate, store, fan out in one transaction), reading recent events
back for polling, sample bodies and output fields, and mapping previews.

Above `wire`, `catalog` and `store`; below `hooks`, which checks mappings on samples."""
