"""Event sources: dCache storage events, CloudEvents over HTTP, local folders."""
