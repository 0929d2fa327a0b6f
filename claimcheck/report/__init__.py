"""Reports: verdict.json (data), verdict.html (the page people read), both from one model."""
