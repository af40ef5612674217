"""What the HTTP faces share (the API, the console, the edge's front and the function runner):
reading bounded forms and streamed uploads, and Twilio's error body. Above core, below the faces."""
