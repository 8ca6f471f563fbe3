"""Profile-scoped persistent stores (SQLite under the profile's state/ directory).

Nothing is re-exported here, so importing the package costs nothing until a store is used:
import the store's own module, e.g. `from hermes.stores.responses import ResponseStore`."""
