"""Address checks before an order is handed to shipping, and the address-error flow.

- `verifiers`: the verifier protocol, the offline verifier (the default) and the factory that
  reads PRESSRUN_ADDRESS_VERIFIER;
- `easypost`: the adapter for EasyPost's address verification (the only code calling it);
- `services`: check an order, report a problem, correct an address, remind publishers;
- `selectors`: `address_verified_q` and the reads of the operator page and the reminders;
- `subscribers`, `tasks`, `views`: the domain-event handlers, the background work and the
  operator page "Address errors".
"""
