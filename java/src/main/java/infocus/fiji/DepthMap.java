package infocus.fiji;

import ij.ImagePlus;

/**
 * Plugins > infocus > Depth Map / All-in-Focus...: the best-focus slice of
 * every pixel (16-bit, 0-based) and the all-in-focus image, as
 * {@code infocus segment --depth D --all-in-focus A}.
 */
public class DepthMap extends Command {
    @Override
    String name() {
        return "Depth Map / All-in-Focus";
    }

    @Override
    ImagePlus[] runOn(ImagePlus imp) {
        Input in = Input.of(imp, 2);
        Method m = new Method();
        Form f = new Form("infocus: Depth Map / All-in-Focus");
        m.addTo(f, false);
        if (!f.show(null)) return null;
        m.readFrom(f, false);
        return execute(in, m, new Bar("depth map"));
    }

    /** {depth map, all-in-focus image}, not shown. */
    public static ImagePlus[] execute(Input in, Method m, Native.Progress bar) {
        Segment.Products p = new Segment.Products();
        p.mask = false;
        p.depth = true;
        p.allInFocus = true;
        ImagePlus[] r = Segment.execute(in, m, p, bar);
        r[0].setDisplayRange(0, Math.max(1, in.slices.length - 1));
        return r;
    }
}
